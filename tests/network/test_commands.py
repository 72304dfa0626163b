"""The operator commands: status, desired config, push now, drift now."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.network import services
from apps.network.models import ConfigPush, PortMode, PushOutcome
from tests.hardware.factories import SwitchFactory, SwitchPortFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(lab_switch, settings):
    settings.SWITCH_CONFIRM_MINUTES = 1
    sw = SwitchFactory(hostname=lab_switch.hostname, mgmt_host="127.0.0.1", mgmt_port=lab_switch.port, username=lab_switch.username,
                       password=lab_switch.password, host_key_fingerprint=lab_switch.fingerprint)
    services.port_config_set(port=SwitchPortFactory(switch=sw, name="xe-0/0/2"), mode=PortMode.ISOLATED, description="spare", schedule=False)
    return sw


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_config_status_push_and_drift(switch, lab_switch):
    assert "set interfaces xe-0/0/2 disable" in run("switch_config", switch.hostname)
    assert f"{switch.hostname:<20}" in run("switch_status") and "never" in run("switch_status", switch.hostname)

    out = run("switch_push", switch.hostname)
    push = ConfigPush.objects.get()
    assert push.outcome == PushOutcome.COMMITTED
    assert f"push #{push.pk} committed" in out and "+       disable;" in out
    assert "nothing pending" in run("switch_push", switch.hostname)

    lab_switch.edit_by_hand("delete interfaces xe-0/0/2 disable")
    assert "drift on: xe-0/0/2" in run("switch_drift", switch.hostname)
    assert "committed" in run("switch_push", switch.hostname, "--reapply", "--reason", "after drift")
    assert ConfigPush.objects.first().reason == "after drift"
    assert "drift on: none; back in line" not in run("switch_drift", switch.hostname)  # the push closed it already
    assert "set interfaces xe-0/0/2 disable" in lab_switch.running_lines()


def test_failed_push_exits_non_zero_with_the_reason(switch, lab_switch):
    lab_switch.faults.refuse_commit = True
    with pytest.raises(CommandError, match="failed at commit_confirmed"):
        run("switch_push", switch.hostname)


def test_unknown_switch(db):
    with pytest.raises(CommandError, match="No switch named"):
        run("switch_config", "nope")
