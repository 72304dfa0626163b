"""`manage.py lab`'s switch group: one emulated switch per loopback switch row, its port recorded."""
from __future__ import annotations

import io

import pytest

from apps.hardware.models import Switch
from apps.lab.groups import switches as group
from apps.network import services
from apps.network.models import ConfigPush, PortMode, PushOutcome
from tests.hardware.factories import SwitchFactory, SwitchPortFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_group(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.SWITCH_CONFIRM_MINUTES = 1
    handles = []

    def start():
        handle = group.start(io.StringIO())
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        group.stop(handle)


def test_lab_binds_loopback_switches_and_pushes_go_over_netconf(running_group, django_capture_on_commit_callbacks):
    lab_row = SwitchFactory(hostname="da11-r01-sw1", mgmt_host="127.0.0.1", mgmt_port=0)
    real_row = SwitchFactory(hostname="real-sw", mgmt_host="192.0.2.10", mgmt_port=830)

    lab = running_group()

    lab_row.refresh_from_db()
    real_row.refresh_from_db()
    assert lab_row.mgmt_port == lab.switch("da11-r01-sw1").port and lab_row.mgmt_port > 0
    assert lab_row.host_key_fingerprint == lab.switch("da11-r01-sw1").fingerprint
    assert (real_row.mgmt_host, real_row.mgmt_port, real_row.host_key_fingerprint) == ("192.0.2.10", 830, "")
    assert len(lab.switches) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.port_config_set(port=SwitchPortFactory(switch=lab_row, name="xe-0/0/1"), mode=PortMode.ISOLATED, description="spare")
    assert ConfigPush.objects.get().outcome == PushOutcome.COMMITTED
    assert "set interfaces xe-0/0/1 disable" in lab.switch("da11-r01-sw1").running_lines()


def test_restarted_lab_keeps_configuration_and_host_key(running_group):
    SwitchFactory(hostname="keep-sw", mgmt_host="127.0.0.1", mgmt_port=0)
    first = running_group()
    first.switch("keep-sw").edit_by_hand("set interfaces xe-0/0/9 disable")
    fingerprint = Switch.objects.get(hostname="keep-sw").host_key_fingerprint
    group.stop(first)

    second = running_group()

    assert Switch.objects.get(hostname="keep-sw").host_key_fingerprint == fingerprint
    assert "set interfaces xe-0/0/9 disable" in second.switch("keep-sw").running_lines()
