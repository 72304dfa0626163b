"""The lab's emulated Junos switch, driven by plain junos-eznc as an engineer's script would."""
from __future__ import annotations

import time

import pytest
from jnpr.junos import Device
from jnpr.junos import exception as ez
from jnpr.junos.utils.config import Config

from apps.lab.junos_config import ConfigSyntaxError, ConfigTree


def connect(switch, **kwargs):
    dev = Device(host="127.0.0.1", port=switch.port, user=switch.username, password=switch.password, gather_facts=False,
                 look_for_keys=False, allow_agent=False, **kwargs)
    dev.open()
    dev.timeout = 10
    return dev


@pytest.fixture
def dev(lab_switch):
    device = connect(lab_switch)
    yield device
    device.close()


# ---------------------------------------------------------------- the configuration database


def test_set_replaces_single_values_and_accumulates_lists():
    tree = ConfigTree()
    tree.apply_lines("set interfaces xe-0/0/1 description one\nset interfaces xe-0/0/1 description \"two words\"\n"
                     "set interfaces xe-0/0/1 unit 0 family inet address 10.0.0.0/31\nset interfaces xe-0/0/1 unit 0 family inet address 10.0.1.0/31")
    assert tree.set_lines() == [
        'set interfaces xe-0/0/1 description "two words"',
        "set interfaces xe-0/0/1 unit 0 family inet address 10.0.0.0/31",
        "set interfaces xe-0/0/1 unit 0 family inet address 10.0.1.0/31",
    ]


def test_bad_lines_change_nothing():
    tree = ConfigTree()
    tree.apply_lines("set interfaces xe-0/0/1 mtu 9216")
    for bad in ("set interfaces xe-0/0/1 mtu 99999", "set interfaces xe-0/0/2 unit 0 family inet address 10.0.0.300/31", "show interfaces"):
        with pytest.raises(ConfigSyntaxError):
            tree.apply_lines(f"set interfaces xe-0/0/1 description changed\n{bad}")
    assert tree.set_lines() == ["set interfaces xe-0/0/1 mtu 9216"]


def test_delete_of_absent_statement_is_a_warning():
    tree = ConfigTree()
    warnings = tree.apply_lines("delete interfaces xe-0/0/9\nset interfaces xe-0/0/9 disable")
    assert [w.args[0] for w in warnings] == ["statement not found"]
    assert tree.set_lines() == ["set interfaces xe-0/0/9 disable"]


def test_compare_reads_like_junos_show_compare():
    old = ConfigTree()
    old.apply_lines("set interfaces xe-0/0/1 description old\nset interfaces xe-0/0/1 mtu 9216\nset interfaces em0 description mgmt")
    new = old.copy()
    new.apply_lines("set interfaces xe-0/0/1 description new\nset interfaces xe-0/0/2 disable")
    assert new.compare(old) == (
        "\n[edit interfaces]\n+   xe-0/0/2 {\n+       disable;\n+   }\n"
        "[edit interfaces xe-0/0/1]\n-   description old;\n+   description new;\n"
    )
    assert old.compare(old.copy()) == "\n"


# ---------------------------------------------------------------- NETCONF behaviour


def test_hello_and_text_format(dev, lab_switch):
    text = dev.rpc.get_config(filter_xml="<system/>", options={"format": "text"}).text
    assert "host-name lab-sw1;" in text
    assert dev.rpc.get_software_information().findtext("host-name") == "lab-sw1"


def test_filter_by_interface_returns_only_that_interface(dev, lab_switch):
    lab_switch.edit_by_hand("set interfaces xe-0/0/1 disable\nset interfaces xe-0/0/2 mtu 1500")
    reply = dev.rpc.get_config(filter_xml="<interfaces><interface><name>xe-0/0/2</name></interface></interfaces>",
                               options={"format": "set", "database": "committed"})
    assert reply.text.strip() == "set interfaces xe-0/0/2 mtu 1500"


def test_second_session_cannot_lock_or_load(dev, lab_switch):
    Config(dev).lock()
    other = connect(lab_switch)
    try:
        with pytest.raises(ez.LockError, match="locked by"):
            Config(other).lock()
        with pytest.raises(ez.ConfigLoadError):
            Config(other).load("set interfaces xe-0/0/5 disable", format="set")
    finally:
        other.close()


def test_session_end_releases_lock_and_discards_uncommitted_changes(lab_switch):
    first = connect(lab_switch)
    cu = Config(first)
    cu.lock()
    cu.load("set interfaces xe-0/0/5 disable", format="set")
    assert cu.diff() is not None
    first.close()
    deadline = time.monotonic() + 5
    while lab_switch.lock_owner is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lab_switch.lock_owner is None and lab_switch.candidate is None
    second = connect(lab_switch)
    try:
        assert Config(second).diff() is None
    finally:
        second.close()


def test_candidate_read_differs_from_committed_until_commit(dev, lab_switch):
    cu = Config(dev)
    cu.lock()
    cu.load("set interfaces xe-0/0/5 disable", format="set")
    candidate = dev.rpc.get_config(filter_xml="<interfaces/>", options={"format": "set"}).text
    committed = dev.rpc.get_config(filter_xml="<interfaces/>", options={"format": "set", "database": "committed"}).text
    assert "xe-0/0/5" in candidate and "xe-0/0/5" not in committed
    cu.commit(comment="plain commit")
    cu.unlock()
    assert "set interfaces xe-0/0/5 disable" in lab_switch.running_lines()
    assert lab_switch.commits[-1].comment == "plain commit"


def test_rollback_one_restores_the_previous_commit(dev, lab_switch):
    before = lab_switch.running_lines()
    cu = Config(dev)
    cu.lock()
    cu.load("set interfaces xe-0/0/5 disable", format="set")
    cu.commit()
    cu.rollback(1)
    cu.commit()
    cu.unlock()
    assert lab_switch.running_lines() == before


def test_confirmed_commit_confirmed_in_time_stays(dev, lab_switch):
    cu = Config(dev)
    cu.lock()
    cu.load("set interfaces xe-0/0/5 disable", format="set")
    cu.commit(confirm=1)
    assert lab_switch.confirm_deadline is not None
    cu.commit()
    cu.unlock()
    time.sleep(2.5)  # past the lab minute: nothing rolls back
    assert "set interfaces xe-0/0/5 disable" in lab_switch.running_lines()
    assert [c.kind for c in lab_switch.commits] == ["commit", "confirm"]


def test_duplicate_address_fails_commit_check(dev, lab_switch):
    lab_switch.edit_by_hand("set interfaces xe-0/0/1 unit 0 family inet address 10.0.0.0/31")
    cu = Config(dev)
    cu.lock()
    cu.load("set interfaces xe-0/0/2 unit 0 family inet address 10.0.0.0/31", format="set")
    with pytest.raises(ez.CommitError, match="configured on both"):
        cu.commit_check()
    cu.rollback()
    cu.unlock()


def test_state_survives_a_restart(tmp_path):
    from apps.lab.junos import JunosLab

    with JunosLab(state_dir=tmp_path) as lab:
        switch = lab.add_switch(hostname="keep", username="u", password="p")
        switch.edit_by_hand("set interfaces xe-0/0/1 disable")
        fingerprint = switch.fingerprint
    with JunosLab(state_dir=tmp_path) as lab:
        again = lab.add_switch(hostname="keep", username="u", password="p")
        assert "set interfaces xe-0/0/1 disable" in again.running_lines()
        assert again.fingerprint == fingerprint
