"""Root pytest configuration: the lab's fixtures are plugins shipped in the package."""

pytest_plugins = ["lbc_lab.kube_fixtures", "lbc_lab.elb_fixtures"]
