"""The workflow's task entry points that are not covered through the workflow itself."""
from __future__ import annotations

import sys

import pytest

from apps.installs import tasks

pytestmark = pytest.mark.django_db


def test_warm_up_loads_the_drivers_and_can_run_again() -> None:
    assert tasks.warm_up().endswith("warm")
    assert {"pyghmi.ipmi.command", "pyghmi.redfish.command", "jnpr.junos"} <= set(sys.modules)
    assert tasks.warm_up().endswith("warm")
