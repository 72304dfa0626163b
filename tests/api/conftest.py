"""Fixtures of the API tests: the lab site (provisioning listener, lab BMCs and switch, emulated machines)
and the installs tests' rack of ready servers."""
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures the replay tests use
from tests.installs.lab_site import lab_site, provisioning_server  # noqa: F401 - fixtures the client lifecycle tests use
