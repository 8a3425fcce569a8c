"""Root pytest configuration: the lab's fixtures are plugins shipped in the package, and the
hypothesis profiles every property test runs under.

``ci`` (the default) is what ``make test`` searches: 400 examples a property, no per-example
deadline (the machine may be busy; a slow example is not a failure) and no too-slow health
check, for the same reason. ``LBC_HYPOTHESIS_PROFILE=thorough`` searches ten times as far, for a
change to the core's planning or codecs.
"""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["lbc_lab.kube_fixtures", "lbc_lab.elb_fixtures"]

settings.register_profile(
    "ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", settings.get_profile("ci"), max_examples=4000)
settings.load_profile(os.environ.get("LBC_HYPOTHESIS_PROFILE", "ci"))
