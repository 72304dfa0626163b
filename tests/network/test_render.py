"""The Junos renderer: vendor-neutral port intents in, `set` lines out (pure, no switch)."""
from __future__ import annotations

import pytest

from apps.network.drivers import PortIntent, PortMode, SwitchRejected, driver_for, junos_bgp
from apps.network.drivers.junos import JunosDriver


def test_provisioned_port_renders_routed_interface_with_gateway_sides():
    intent = PortIntent(name="xe-0/0/12", mode=PortMode.PROVISIONED, description="metalyard SRV9 eth0", mtu=9216,
                        addresses=("147.75.200.4/31", "10.70.1.8/31", "2604:1380:0:A00:0::/127"))
    assert JunosDriver().render([intent]) == [
        "delete interfaces xe-0/0/12",
        # The port's BGP groups and filters go with it (absent ones draw only a "statement not found" warning).
        *junos_bgp.delete_lines("xe-0/0/12"),
        'set interfaces xe-0/0/12 description "metalyard SRV9 eth0"',
        "set interfaces xe-0/0/12 mtu 9216",
        "set interfaces xe-0/0/12 unit 0 family inet address 147.75.200.4/31",
        "set interfaces xe-0/0/12 unit 0 family inet address 10.70.1.8/31",
        # IPv6 in the canonical short form Junos shows, so verify and drift compare like with like.
        "set interfaces xe-0/0/12 unit 0 family inet6 address 2604:1380:0:a00::/127",
    ]


def test_isolated_port_renders_disabled_without_addresses():
    intent = PortIntent(name="ge-0/0/3", mode=PortMode.ISOLATED, description="metalyard free", mtu=9216, addresses=("10.0.0.0/31",))
    assert JunosDriver().render([intent]) == [
        "delete interfaces ge-0/0/3",
        *junos_bgp.delete_lines("ge-0/0/3"),
        'set interfaces ge-0/0/3 description "metalyard free"',
        "set interfaces ge-0/0/3 disable",
    ]


def test_description_cannot_inject_configuration():
    intent = PortIntent(name="xe-0/0/1", mode=PortMode.ISOLATED, description='evil"\nset system root-authentication plain-text-password "x" \\')
    lines = JunosDriver().render([intent])
    assert len(lines) == 3 + 8
    assert lines[9] == 'set interfaces xe-0/0/1 description "evil_ set system root-authentication plain-text-password _x_ _"'


def test_single_word_description_is_unquoted_like_display_set():
    intent = PortIntent(name="xe-0/0/1", mode=PortMode.ISOLATED, description="spare")
    assert JunosDriver().expected_lines(intent)[0] == "set interfaces xe-0/0/1 description spare"


@pytest.mark.parametrize("name", ["xe-0/0/1; set system", "eth0", "xe-0/0/1 unit 5", ""])
def test_port_names_that_are_not_junos_interfaces_are_refused(name):
    with pytest.raises(SwitchRejected, match="not a Junos interface name"):
        JunosDriver().render([PortIntent(name=name, mode=PortMode.ISOLATED, description="x")])


def test_driver_registry():
    assert isinstance(driver_for("junos"), JunosDriver)
    with pytest.raises(Exception, match="No switch driver for OS 'nxos'"):
        driver_for("nxos")
