"""Desired state → push task → lab switch over real NETCONF: records, coalescing, failures, drift."""
from __future__ import annotations

import time

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.hardware.models import ServerState
from apps.network import services, tasks
from apps.network.models import ConfigPush, PortConfig, PortDrift, PortMode, PushOutcome, SwitchSync
from tests.hardware.factories import CableFactory, NetworkInterfaceFactory, ServerFactory, SwitchFactory, SwitchPortFactory
from tests.network.conftest import LAB_MINUTE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def switch_settings(settings):
    settings.SWITCH_CONFIRM_MINUTES = 1  # one lab minute (LAB_MINUTE seconds)
    settings.SWITCH_RPC_TIMEOUT = 10
    settings.SWITCH_CONNECT_TIMEOUT = 5


@pytest.fixture
def switch(lab_switch):
    return SwitchFactory(hostname=lab_switch.hostname, mgmt_host="127.0.0.1", mgmt_port=lab_switch.port, username=lab_switch.username,
                         password=lab_switch.password, host_key_fingerprint=lab_switch.fingerprint)


def lines(lab_switch, name):
    return [line for line in lab_switch.running_lines() if line.startswith(f"set interfaces {name} ")]


def provision(port, n=1, **kwargs):
    return services.port_config_set(port=port, mode=PortMode.PROVISIONED, description=f"metalyard S{n} eth0", mtu=9216,
                                    addresses=[f"147.75.{n}.0/31", f"10.64.{n}.0/31", f"2604:1380:{n}::/127"], **kwargs)


def test_a_change_is_pushed_after_commit_and_recorded(switch, lab_switch, staff_user, django_capture_on_commit_callbacks):
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    with django_capture_on_commit_callbacks(execute=True):
        config, changed = provision(port, actor=staff_user, reason="install of device d-1")
        assert changed and not ConfigPush.objects.exists()  # nothing talks to the switch before the commit

    push = ConfigPush.objects.get()
    assert push.outcome == PushOutcome.COMMITTED and push.committed
    assert push.requested_by == staff_user.username and push.reason == "install of device d-1"
    assert push.ports == ["xe-0/0/1"]
    assert "+   xe-0/0/1 {" in push.diff and "address 147.75.1.0/31;" in push.diff
    assert "delete interfaces xe-0/0/1" in push.config
    assert [s[0] for s in push.steps][-3:] == ["verify", "confirm", "unlock"] and push.duration_ms > 0
    assert lines(lab_switch, "xe-0/0/1") == [
        'set interfaces xe-0/0/1 description "metalyard S1 eth0"', "set interfaces xe-0/0/1 mtu 9216",
        "set interfaces xe-0/0/1 unit 0 family inet address 147.75.1.0/31", "set interfaces xe-0/0/1 unit 0 family inet address 10.64.1.0/31",
        "set interfaces xe-0/0/1 unit 0 family inet6 address 2604:1380:1::/127"]
    assert f"metalyard push {push.pk}: install of device d-1" in lab_switch.commits[-1].comment
    config.refresh_from_db()
    assert not config.pending and config.applied_at is not None
    assert AuditEvent.objects.filter(action="network.switch.push", target_id=str(push.pk)).exists()
    assert AuditEvent.objects.filter(action="network.port.desired", target_id=str(config.pk)).exists()


def test_same_desired_state_again_pushes_nothing(switch, lab_switch, django_capture_on_commit_callbacks):
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    with django_capture_on_commit_callbacks(execute=True):
        provision(port)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _, changed = provision(port)
    assert not changed and callbacks == []
    assert ConfigPush.objects.count() == 1


def test_reapply_of_what_runs_commits_nothing(switch, lab_switch, django_capture_on_commit_callbacks):
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    with django_capture_on_commit_callbacks(execute=True):
        provision(port)
    commits = len(lab_switch.commits)

    with django_capture_on_commit_callbacks(execute=True):
        services.switch_reapply(switch=switch, reason="check")

    push = ConfigPush.objects.first()
    assert push.outcome == PushOutcome.UNCHANGED and not push.committed and push.diff == "", push.diff
    assert len(lab_switch.commits) == commits
    assert not PortConfig.objects.get().pending


def test_refused_commit_is_recorded_failed_and_the_switch_unchanged(switch, lab_switch, django_capture_on_commit_callbacks):
    before = lab_switch.running_lines()
    lab_switch.faults.refuse_commit = True
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    with django_capture_on_commit_callbacks(execute=True):
        provision(port)

    push = ConfigPush.objects.get()
    assert push.outcome == PushOutcome.FAILED and not push.committed
    assert push.error_step == "commit_confirmed" and "refuse_commit" in push.error and not push.retryable
    assert push.diff  # the diff was recorded before the commit was tried
    assert lab_switch.running_lines() == before and lab_switch.lock_owner is None
    assert PortConfig.objects.get().pending
    sync = SwitchSync.objects.get(pk=switch.pk)
    assert sync.consecutive_failures == 1 and sync.next_attempt_at > timezone.now()

    # The sweep leaves a failed switch alone until its back-off ends, then pushes again.
    assert tasks.reconcile().startswith("0 switch(es)")
    lab_switch.faults.refuse_commit = False
    SwitchSync.objects.filter(pk=switch.pk).update(next_attempt_at=timezone.now())
    tasks.reconcile()
    assert ConfigPush.objects.first().outcome == PushOutcome.COMMITTED
    assert not PortConfig.objects.get().pending
    assert SwitchSync.objects.get(pk=switch.pk).consecutive_failures == 0


def test_session_dropped_mid_commit(switch, lab_switch, django_capture_on_commit_callbacks):
    before = lab_switch.running_lines()
    lab_switch.faults.drop_mid_commit = True
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    with django_capture_on_commit_callbacks(execute=True):
        provision(port)

    push = ConfigPush.objects.get()
    assert push.outcome == PushOutcome.FAILED and push.retryable and push.error_step == "commit_confirmed"
    # The next automatic try waits for the switch to roll the unconfirmed commit back.
    assert SwitchSync.objects.get(pk=switch.pk).next_attempt_at >= timezone.now() + timezone.timedelta(seconds=60)
    deadline = time.monotonic() + LAB_MINUTE + 3
    while time.monotonic() < deadline and (lab_switch.running_lines() != before or lab_switch.lock_owner is not None):
        time.sleep(0.05)
    assert lab_switch.lock_owner is None
    assert lab_switch.running_lines() == before
    assert [c.kind for c in lab_switch.commits] == ["commit", "rollback"]


def test_forty_port_changes_in_one_transaction_become_one_commit(switch, lab_switch, django_capture_on_commit_callbacks):
    ports = [SwitchPortFactory(switch=switch, name=f"xe-0/0/{i}") for i in range(40)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for i, port in enumerate(ports):
            provision(port, n=i + 1)
    assert len(callbacks) == 1

    push = ConfigPush.objects.get()
    assert push.outcome == PushOutcome.COMMITTED and len(push.ports) == 40
    assert [c.kind for c in lab_switch.commits] == ["commit", "confirm"]
    assert all(lines(lab_switch, f"xe-0/0/{i}") for i in range(40))


def test_forty_changes_during_a_running_push_are_coalesced(switch, lab_switch, django_capture_on_commit_callbacks):
    ports = [SwitchPortFactory(switch=switch, name=f"xe-0/0/{i}") for i in range(40)]
    assert services._lease_acquire(switch.pk, "another worker")  # a push of this switch is running elsewhere
    for i, port in enumerate(ports):  # 40 separate transactions, each scheduling a push
        with django_capture_on_commit_callbacks(execute=True):
            provision(port, n=i + 1)
    assert ConfigPush.objects.count() == 0  # each found the switch busy and left its change pending

    services._lease_release(switch.pk, "another worker")
    services.switch_push(switch_id=switch.pk)  # the running push's next round (or the sweep)

    assert ConfigPush.objects.get().ports == [p.name for p in sorted(ports, key=lambda p: p.name)]
    assert [c.kind for c in lab_switch.commits] == ["commit", "confirm"]
    assert not PortConfig.objects.filter(applied_version=0).exists()


def test_drift_after_a_hand_change_is_recorded_and_reapply_fixes_it(switch, lab_switch, staff_user, django_capture_on_commit_callbacks):
    port = SwitchPortFactory(switch=switch, name="xe-0/0/1")
    other = SwitchPortFactory(switch=switch, name="xe-0/0/2")
    with django_capture_on_commit_callbacks(execute=True):
        provision(port)
        provision(other, n=2)
    assert tasks.drift_check(switch.pk) == "2 port(s) checked, 0 drifted, 0 back in line"

    lab_switch.edit_by_hand("set interfaces xe-0/0/1 mtu 1500\nset interfaces xe-0/0/1 unit 0 family inet address 198.51.100.1/24")
    report = services.switch_drift_check(switch_id=switch.pk)

    assert report.drifted == ["xe-0/0/1"]
    drift = PortDrift.objects.get()
    assert drift.is_open and drift.port == port
    assert "unexpected 'set interfaces xe-0/0/1 mtu 1500'" in drift.summary
    assert "set interfaces xe-0/0/1 unit 0 family inet address 198.51.100.1/24" in drift.running
    assert "set interfaces xe-0/0/1 mtu 1500" in PortConfig.objects.get(port=port).running
    services.switch_drift_check(switch_id=switch.pk)
    assert PortDrift.objects.count() == 1  # still the same open record

    with django_capture_on_commit_callbacks(execute=True):
        services.switch_reapply(switch=switch, actor=staff_user, reason="re-apply after drift")

    drift.refresh_from_db()
    push = ConfigPush.objects.first()
    assert push.outcome == PushOutcome.COMMITTED and "-   mtu 1500;" in push.diff and push.requested_by == staff_user.username
    assert not drift.is_open and drift.resolved_by_push == push
    assert "set interfaces xe-0/0/1 mtu 9216" in lines(lab_switch, "xe-0/0/1")
    assert services.switch_drift_check(switch_id=switch.pk).drifted == []


def test_drift_check_of_an_unreachable_switch_is_recorded(switch, junos_lab):
    SwitchPortFactory(switch=switch, name="xe-0/0/1")
    services.port_config_set(port=switch.ports.get(), mode=PortMode.ISOLATED, description="spare", schedule=False)
    switch.__class__.objects.filter(pk=switch.pk).update(mgmt_port=1, host_key_fingerprint="")
    report = services.switch_drift_check(switch_id=switch.pk)
    assert "Cannot" in report.error
    assert SwitchSync.objects.get(pk=switch.pk).last_drift_error == report.error
    assert not PortDrift.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_server_ports_are_isolated_from_the_model_and_pushed_synchronously(switch, lab_switch):
    server = ServerFactory(state=ServerState.READY, facility=switch.facility, serial="DA11-R1-07")
    for nic, port_name in (("eth0", "xe-0/0/7"), ("eth1", "xe-0/0/8")):
        CableFactory(interface=NetworkInterfaceFactory(server=server, name=nic), port=SwitchPortFactory(switch=switch, name=port_name))

    outcome = services.port_configure_for_server_sync(server=server, reason="server is ready")

    assert outcome.done and not outcome.failed and len(outcome.pushes) == 1
    assert lines(lab_switch, "xe-0/0/7") == ['set interfaces xe-0/0/7 description "metalyard DA11-R1-07 eth0 isolated (ready)"',
                                             "set interfaces xe-0/0/7 disable"]
    assert lines(lab_switch, "xe-0/0/8")[-1] == "set interfaces xe-0/0/8 disable"
    again = services.port_configure_for_server_sync(server=server, reason="nothing changed")
    assert again.done and again.pushes == [] and ConfigPush.objects.count() == 1


def test_sync_variant_refuses_to_run_inside_a_transaction(switch):
    server = ServerFactory(facility=switch.facility)
    with transaction.atomic(), pytest.raises(services.NotOutsideTransaction):
        services.port_configure_for_server_sync(server=server)


def test_wait_reports_a_failed_push(switch, lab_switch, django_capture_on_commit_callbacks):
    lab_switch.faults.refuse_commit_check = True
    server = ServerFactory(facility=switch.facility)
    CableFactory(interface=NetworkInterfaceFactory(server=server, name="eth0"), port=SwitchPortFactory(switch=switch, name="xe-0/0/3"))
    with django_capture_on_commit_callbacks(execute=True):
        change = services.port_configure_for_server(server=server, reason="isolate")
    outcome = services.port_change_wait(change, timeout=5)
    assert outcome.failed and not outcome.done and "refuse_commit_check" in outcome.error


def test_first_connection_pins_the_host_key(switch, lab_switch, django_capture_on_commit_callbacks):
    switch.__class__.objects.filter(pk=switch.pk).update(host_key_fingerprint="")
    with django_capture_on_commit_callbacks(execute=True):
        services.port_config_set(port=SwitchPortFactory(switch=switch, name="xe-0/0/1"), mode=PortMode.ISOLATED, description="spare")
    switch.refresh_from_db()
    assert switch.host_key_fingerprint == lab_switch.fingerprint
    assert AuditEvent.objects.filter(action="network.switch.hostkey_pinned").exists()


def test_isolated_port_with_addresses_is_refused(switch):
    with pytest.raises(ValueError, match="carries no addresses"):
        services.port_config_set(port=SwitchPortFactory(switch=switch), mode=PortMode.ISOLATED, addresses=["10.0.0.0/31"])
