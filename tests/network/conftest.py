"""Fixtures for the network tests: a lab of emulated Junos switches on loopback, stopped after each test."""
from __future__ import annotations

import pytest

from apps.lab.junos import JunosLab
from apps.network.drivers import SwitchTarget

# One lab "minute" (Junos counts `commit confirmed` in minutes) lasts this many seconds in tests.
LAB_MINUTE = 2.0


@pytest.fixture
def junos_lab():
    lab = JunosLab(minute_seconds=LAB_MINUTE).start()
    yield lab
    lab.stop()


@pytest.fixture
def lab_switch(junos_lab):
    return junos_lab.add_switch(hostname="lab-sw1", username="metalyard", password="lab-secret")


def target_for(switch, **overrides) -> SwitchTarget:
    values = dict(hostname=switch.hostname, host="127.0.0.1", port=switch.port, username=switch.username, password=switch.password,
                  host_key_fingerprint=switch.fingerprint, connect_timeout=5, rpc_timeout=10)
    values.update(overrides)
    return SwitchTarget(**values)
