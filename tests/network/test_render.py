"""The Junos renderer: vendor-neutral port intents in, `set` lines out (pure, no switch)."""
from __future__ import annotations

import pytest

from apps.network.drivers import PortIntent, PortMode, SwitchRejected, driver_for, junos_bgp
from apps.network.drivers.junos import JunosDriver, lag_name


def test_provisioned_port_renders_routed_interface_with_gateway_sides():
    intent = PortIntent(name="xe-0/0/12", mode=PortMode.PROVISIONED, description="metalyard SRV9 eth0", mtu=9216,
                        addresses=("147.75.200.4/31", "10.70.1.8/31", "2604:1380:0:A00:0::/127"))
    assert JunosDriver().render([intent]) == [
        "delete interfaces xe-0/0/12",
        "delete interfaces ae12",
        # The LACP bundle named after the port, and its BGP groups and filters go with it (absent ones draw only a "statement not found" warning).
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
        "delete interfaces ae3",
        *junos_bgp.delete_lines("ge-0/0/3"),
        'set interfaces ge-0/0/3 description "metalyard free"',
        "set interfaces ge-0/0/3 disable",
    ]


def test_description_cannot_inject_configuration():
    intent = PortIntent(name="xe-0/0/1", mode=PortMode.ISOLATED, description='evil"\nset system root-authentication plain-text-password "x" \\')
    lines = JunosDriver().render([intent])
    assert len(lines) == 4 + 8
    assert lines[10] == 'set interfaces xe-0/0/1 description "evil_ set system root-authentication plain-text-password _x_ _"'


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


def test_bonded_layer2_renders_an_lacp_bundle_named_after_its_first_member():
    owner = PortIntent(name="xe-0/0/10", mode=PortMode.LAYER2, description="metalyard SRV1 eth0 bond0", mtu=9216, vlans=(1001, 1000),
                       native_vlan=1000, lag="ae10")
    member = PortIntent(name="xe-0/0/11", mode=PortMode.LAYER2, description="metalyard SRV1 eth1 bond0", mtu=9216, lag="ae10")
    driver = JunosDriver()
    assert driver.expected_lines(owner) == [
        'set interfaces xe-0/0/10 description "metalyard SRV1 eth0 bond0"',
        "set interfaces xe-0/0/10 ether-options 802.3ad ae10",
        'set interfaces ae10 description "metalyard SRV1 eth0 bond0"',
        "set interfaces ae10 mtu 9216",
        "set interfaces ae10 aggregated-ether-options lacp active",
        "set interfaces ae10 native-vlan-id 1000",
        "set interfaces ae10 unit 0 family ethernet-switching interface-mode trunk",
        "set interfaces ae10 unit 0 family ethernet-switching vlan members metalyard-vlan1000",
        "set interfaces ae10 unit 0 family ethernet-switching vlan members metalyard-vlan1001",
    ]
    # The other member only joins the bundle (the trunk is the bundle's; Junos takes no MTU on a member).
    assert driver.expected_lines(member) == ['set interfaces xe-0/0/11 description "metalyard SRV1 eth1 bond0"',
                                             "set interfaces xe-0/0/11 ether-options 802.3ad ae10"]
    assert driver.render([owner, member])[:2] == ["delete interfaces xe-0/0/10", "delete interfaces ae10"]
    assert [JunosDriver().render([member])[1]] == ["delete interfaces ae11"]
    assert lag_name("et-1/1/2") == "ae1102"


def test_the_lab_switch_forwards_a_bundles_vlans_on_its_members():
    from apps.lab.l2switch import layer2_ports

    owner = PortIntent(name="xe-0/0/10", mode=PortMode.LAYER2, description="eth0 bond0", mtu=9216, vlans=(1000,), native_vlan=1000, lag="ae10")
    member = PortIntent(name="xe-0/0/11", mode=PortMode.LAYER2, description="eth1 bond0", lag="ae10")
    driver = JunosDriver()
    lines = ["set vlans metalyard-vlan1000 vlan-id 1000", *driver.expected_lines(owner), *driver.expected_lines(member)]
    trunks = layer2_ports(lines)
    assert trunks["xe-0/0/10"] == trunks["xe-0/0/11"] == trunks["ae10"]
    assert (trunks["ae10"].vlans, trunks["ae10"].native) == ({1000}, 1000)
