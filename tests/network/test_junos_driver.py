"""The Junos driver through the real junos-eznc client against the lab switch over loopback."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from apps.network.drivers import (
    PortIntent,
    PortMode,
    SwitchAuthFailed,
    SwitchBusy,
    SwitchHostKeyMismatch,
    SwitchRejected,
    SwitchSessionLost,
    SwitchTimeout,
    SwitchUnreachable,
)
from apps.network.drivers.junos import JunosDriver
from tests.network.conftest import LAB_MINUTE, target_for

PROVISIONED = PortIntent(name="xe-0/0/1", mode=PortMode.PROVISIONED, description="metalyard SRV001 eth0 provisioned", mtu=9216,
                         addresses=("147.75.10.0/31", "10.64.3.0/31", "2604:1380:4641:a00::/127"))
EXPECTED = [
    'set interfaces xe-0/0/1 description "metalyard SRV001 eth0 provisioned"',
    "set interfaces xe-0/0/1 mtu 9216",
    "set interfaces xe-0/0/1 unit 0 family inet address 147.75.10.0/31",
    "set interfaces xe-0/0/1 unit 0 family inet address 10.64.3.0/31",
    "set interfaces xe-0/0/1 unit 0 family inet6 address 2604:1380:4641:a00::/127",
]


def port_lines(switch, name):
    return [line for line in switch.running_lines() if line.startswith(f"set interfaces {name} ")]


def test_provisioned_port_gets_exactly_the_expected_lines(lab_switch):
    result = JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="test push", confirm_minutes=1)

    assert result.changed and result.committed
    assert port_lines(lab_switch, "xe-0/0/1") == EXPECTED
    assert "+   xe-0/0/1 {" in result.diff and "address 147.75.10.0/31;" in result.diff
    # A confirmed commit, then the confirming commit; the switch's timer is off and the lock is free.
    assert [c.kind for c in lab_switch.commits] == ["commit", "confirm"]
    assert lab_switch.commits[0].confirmed_minutes == 1
    assert lab_switch.confirm_deadline is None and lab_switch.lock_owner is None
    assert [name for name, _ in result.steps] == ["connect", "lock", "load", "commit_check", "diff", "commit_confirmed", "verify", "confirm", "unlock"]


def test_push_replaces_what_was_on_the_port_before(lab_switch):
    lab_switch.edit_by_hand("set interfaces xe-0/0/1 description old\nset interfaces xe-0/0/1 unit 0 family inet address 192.0.2.0/31\n"
                            "set interfaces xe-0/0/2 description neighbour")
    JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="replace", confirm_minutes=1)

    assert port_lines(lab_switch, "xe-0/0/1") == EXPECTED
    assert port_lines(lab_switch, "xe-0/0/2") == ["set interfaces xe-0/0/2 description neighbour"]


def test_idempotent_repush_commits_nothing(lab_switch):
    driver, target = JunosDriver(), target_for(lab_switch)
    driver.apply(target, [PROVISIONED], comment="first", confirm_minutes=1)
    commits = len(lab_switch.commits)

    result = driver.apply(target, [PROVISIONED], comment="again", confirm_minutes=1)

    assert not result.changed and not result.committed and result.diff == ""
    assert len(lab_switch.commits) == commits
    assert lab_switch.lock_owner is None and lab_switch.candidate is None


def test_isolated_port_is_disabled_without_addresses(lab_switch):
    driver, target = JunosDriver(), target_for(lab_switch)
    driver.apply(target, [PROVISIONED], comment="provision", confirm_minutes=1)
    isolated = PortIntent(name="xe-0/0/1", mode=PortMode.ISOLATED, description="metalyard SRV001 eth0 isolated (cleaning)")

    driver.apply(target, [isolated], comment="isolate", confirm_minutes=1)

    assert port_lines(lab_switch, "xe-0/0/1") == ['set interfaces xe-0/0/1 description "metalyard SRV001 eth0 isolated (cleaning)"',
                                                  "set interfaces xe-0/0/1 disable"]


def test_refused_commit_changes_nothing_and_releases_the_lock(lab_switch):
    before = lab_switch.running_lines()
    lab_switch.faults.refuse_commit = True

    with pytest.raises(SwitchRejected, match="refuse_commit") as caught:
        JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="refused", confirm_minutes=1)

    assert caught.value.step == "commit_confirmed" and not caught.value.retryable
    assert lab_switch.running_lines() == before
    assert lab_switch.commits == []
    assert lab_switch.lock_owner is None and lab_switch.candidate is None


def test_refused_commit_check_changes_nothing(lab_switch):
    lab_switch.faults.refuse_commit_check = True
    with pytest.raises(SwitchRejected) as caught:
        JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="check fails", confirm_minutes=1)
    assert caught.value.step == "commit_check"
    assert lab_switch.commits == [] and lab_switch.lock_owner is None and lab_switch.candidate is None


def test_session_dropped_mid_commit_leaves_no_lock_and_the_commit_rolls_back(lab_switch):
    before = lab_switch.running_lines()
    lab_switch.faults.drop_mid_commit = True

    with pytest.raises(SwitchSessionLost) as caught:
        JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="dropped", confirm_minutes=1)

    assert caught.value.step == "commit_confirmed" and caught.value.retryable
    # The confirmed commit happened on the switch; nobody confirms it.
    assert port_lines(lab_switch, "xe-0/0/1") == EXPECTED
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (lab_switch.lock_owner is not None or lab_switch.running_lines() != before):
        time.sleep(0.05)
    assert lab_switch.lock_owner is None
    assert lab_switch.running_lines() == before
    assert [c.kind for c in lab_switch.commits] == ["commit", "rollback"]
    assert lab_switch.commits[1].at - lab_switch.commits[0].at >= dt.timedelta(seconds=LAB_MINUTE * 0.9)


def test_a_slow_switch_times_out_within_the_bound(lab_switch):
    lab_switch.faults.reply_delay = 3.0
    started = time.monotonic()

    with pytest.raises(SwitchTimeout) as caught:
        JunosDriver().apply(target_for(lab_switch, rpc_timeout=1), [PROVISIONED], comment="slow", confirm_minutes=1)

    assert caught.value.retryable and caught.value.step == "lock"
    assert time.monotonic() - started < 8
    assert lab_switch.commits == []


def test_a_lock_held_by_someone_else_is_busy(lab_switch):
    lab_switch.faults.refuse_lock = True
    with pytest.raises(SwitchBusy, match="locked") as caught:
        JunosDriver().apply(target_for(lab_switch), [PROVISIONED], comment="busy", confirm_minutes=1)
    assert caught.value.retryable and lab_switch.commits == []


def test_wrong_password_is_fatal_and_says_what_to_check(lab_switch):
    with pytest.raises(SwitchAuthFailed, match="username and password") as caught:
        JunosDriver().apply(target_for(lab_switch, password="wrong"), [PROVISIONED], comment="auth", confirm_minutes=1)
    assert not caught.value.retryable


def test_nothing_listening_is_unreachable_and_retryable(junos_lab):
    switch = junos_lab.add_switch(hostname="gone", username="u", password="p")
    port = switch.port
    junos_lab._listeners[port].close()  # the switch's management plane is down
    target = target_for(switch, host_key_fingerprint="", connect_timeout=2)
    with pytest.raises(SwitchUnreachable) as caught:
        JunosDriver().apply(target, [PROVISIONED], comment="down", confirm_minutes=1)
    assert caught.value.retryable


def test_a_different_host_key_is_refused_before_login(lab_switch):
    target = target_for(lab_switch, host_key_fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(SwitchHostKeyMismatch, match="Nothing was sent"):
        JunosDriver().apply(target, [PROVISIONED], comment="mitm", confirm_minutes=1)
    assert lab_switch.commits == []


def test_unpinned_switch_reports_its_host_key(lab_switch):
    result = JunosDriver().apply(target_for(lab_switch, host_key_fingerprint=""), [PROVISIONED], comment="tofu", confirm_minutes=1)
    assert result.host_key_fingerprint == lab_switch.fingerprint


def test_hand_change_shows_as_difference(lab_switch):
    driver, target = JunosDriver(), target_for(lab_switch)
    driver.apply(target, [PROVISIONED], comment="push", confirm_minutes=1)
    lab_switch.edit_by_hand("set interfaces xe-0/0/1 mtu 1500\ndelete interfaces xe-0/0/1 unit 0 family inet address 10.64.3.0/31")

    running, seen = driver.running_ports(target, ["xe-0/0/1", "xe-0/0/7"])

    assert seen == lab_switch.fingerprint
    assert running["xe-0/0/7"] == []
    problems = driver.differences([PROVISIONED], running)
    assert len(problems) == 1
    assert "missing 'set interfaces xe-0/0/1 mtu 9216'" in problems[0]
    assert "unexpected 'set interfaces xe-0/0/1 mtu 1500'" in problems[0]
    assert "missing 'set interfaces xe-0/0/1 unit 0 family inet address 10.64.3.0/31'" in problems[0]


def test_forty_ports_in_one_commit(lab_switch):
    intents = [PortIntent(name=f"xe-0/0/{i}", mode=PortMode.PROVISIONED, description=f"metalyard S{i} eth0", mtu=9216,
                          addresses=(f"147.75.{i}.0/31",)) for i in range(40)]
    result = JunosDriver().apply(target_for(lab_switch), intents, comment="forty", confirm_minutes=1)
    assert result.committed
    assert [c.kind for c in lab_switch.commits] == ["commit", "confirm"]
    assert all(port_lines(lab_switch, f"xe-0/0/{i}") for i in range(40))
