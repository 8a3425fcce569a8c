"""Root pytest configuration: the lab's fixtures are plugins shipped in the package."""

pytest_plugins = ["lbc.lab.kube_fixtures", "lbc.lab.elb_fixtures"]
