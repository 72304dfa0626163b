"""Layer 2 and hybrid with real frames: three devices of one project, each with its second NIC converted to a
Layer 2 trunk (hybrid: the first NIC stays routed). Two share a VLAN, the third has another. The lab switch's
Layer 2 side (apps.lab.l2switch, built from the committed configuration) forwards between network namespaces:
the two in one VLAN ping each other, the third receives nothing. Converting back to Layer 3 restores exactly
the original lines and keeps the addresses; VLANs no port uses leave the switch."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.hardware.models import NetworkInterface
from apps.ipam.selectors import server_addresses
from apps.lab.l2switch import write_state
from apps.network import bgp, layer2
from apps.network.models import PortConfig, PortMode, SwitchSync
from tests.factories import UserFactory
from tests.installs import netns
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site
from tests.network.bgp_site import DeviceRef_for

why_not = netns.available() or (None if shutil.which("ping") else "needs ping (Debian iputils-ping)")
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def port_lines(lab_switch, port: str) -> list[str]:
    return [line for line in lab_switch.running_lines() if line.startswith(f"set interfaces {port} ")]


def nic(device, name: str) -> NetworkInterface:
    return NetworkInterface.objects.select_related("cable").get(server=device.server, name=name)


@pytest.fixture
def site(lab_switch, facility, pool4, private_pool, pool6, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    return bgp_site.build(lab_switch, facility, UserFactory(email="l2@example.com"), devices=3, nics=2, capture=django_capture_on_commit_callbacks)


def test_vlan_ids_are_allocated_per_metro_without_collisions(site, metro):  # noqa: F811
    first = layer2.vlan_create(project=site.project, metro=metro)
    second = layer2.vlan_create(project=site.project, metro=metro)
    assert (first.vxlan, second.vxlan) == (1000, 1001)
    with pytest.raises(ValidationError, match="already used in metro da"):
        layer2.vlan_create(project=site.project, metro=metro, vxlan=1001)
    with pytest.raises(ValidationError, match="from 2 to 3999"):
        layer2.vlan_create(project=site.project, metro=metro, vxlan=4095)


def test_bad_port_changes_are_refused_and_push_nothing(site, metro, django_capture_on_commit_callbacks):  # noqa: F811
    a = site.devices[0]
    other_project = bgp_site.accounts.project_create(organization=site.project.organization, name="other")
    foreign = layer2.vlan_create(project=other_project, metro=metro)
    before = list(site.lab_switch.running_lines())
    with pytest.raises(ValidationError, match="Layer 3 port"):
        layer2.port_assign(interface=nic(a, "eth1"), vlan=layer2.vlan_create(project=site.project, metro=metro), project=site.project)
    with django_capture_on_commit_callbacks(execute=True):
        layer2.port_convert(interface=nic(a, "eth1"), layer2=True)
    with pytest.raises(ValidationError, match="another project"):
        layer2.port_assign(interface=nic(a, "eth1"), vlan=foreign, project=site.project)
    bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000)
    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_session_create(device=DeviceRef_for(a), address_family="ipv4")
    with pytest.raises(ValidationError, match="carries the device's BGP sessions"):
        layer2.port_convert(interface=nic(a, "eth0"), layer2=True)
    assert PortConfig.objects.get(port__name="xe-0/0/10").mode == PortMode.PROVISIONED
    assert [line for line in site.lab_switch.running_lines() if line not in before and "xe-0/0/10" in line and "interfaces" in line] == []


@pytest.mark.skipif(why_not is not None, reason=why_not or "")
def test_hybrid_devices_in_one_vlan_exchange_frames_and_the_other_vlan_gets_nothing(site, metro, tmp_path,  # noqa: F811
                                                                                   django_capture_on_commit_callbacks):
    a, b, c = site.devices
    originals = {port: port_lines(site.lab_switch, port) for port in ("xe-0/0/10", "xe-0/0/11")}
    addresses = [str(x.network) for x in server_addresses(a.server)]
    shared, apart = layer2.vlan_create(project=site.project, metro=metro), layer2.vlan_create(project=site.project, metro=metro)
    with django_capture_on_commit_callbacks(execute=True):
        for device, vlan in ((a, shared), (b, shared), (c, apart)):
            eth1 = nic(device, "eth1")
            layer2.port_bond(interface=eth1, bonded=False)
            layer2.port_convert(interface=eth1, layer2=True, device_label=device.hostname)
            layer2.port_assign(interface=eth1, vlan=vlan, project=site.project, device_label=device.hostname)
            layer2.port_native_vlan(interface=eth1, vlan=vlan, device_label=device.hostname)
    running = site.lab_switch.running_lines()
    assert "set vlans metalyard-vlan1000 vlan-id 1000" in running and "set vlans metalyard-vlan1001 vlan-id 1001" in running
    assert port_lines(site.lab_switch, "xe-0/0/11") == [
        'set interfaces xe-0/0/11 description "metalyard DA11-BGP-00 eth1 layer2"', "set interfaces xe-0/0/11 mtu 9216",
        "set interfaces xe-0/0/11 native-vlan-id 1000",
        "set interfaces xe-0/0/11 unit 0 family ethernet-switching interface-mode trunk",
        "set interfaces xe-0/0/11 unit 0 family ethernet-switching vlan members metalyard-vlan1000"]
    assert port_lines(site.lab_switch, "xe-0/0/10") == originals["xe-0/0/10"]  # hybrid: the routed link stays

    pid = os.getpid()
    switch_ns = netns.Namespace(f"ml2-sw-{pid}")
    servers = [netns.Namespace(f"ml2-{name}-{pid}") for name in ("a", "b", "c")]
    links = {"xe-0/0/11": "p11", "xe-0/0/13": "p13", "xe-0/0/15": "p15"}
    state = tmp_path / "l2.json"
    process = None
    try:
        switch_ns.create()
        # The switch's own kernel must stay quiet on its links (no IPv6 router solicitations or MLD): only forwarded frames count.
        switch_ns.exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        for ns, link, address in zip(servers, links.values(), ("192.168.100.1", "192.168.100.2", "192.168.100.3"), strict=True):
            ns.create()
            ns.exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            netns.ip("-n", switch_ns.name, "link", "add", link, "type", "veth", "peer", "name", "eth1", "netns", ns.name)
            netns.ip("-n", switch_ns.name, "link", "set", link, "up")
            netns.ip("-n", ns.name, "addr", "add", f"{address}/24", "dev", "eth1")
            netns.ip("-n", ns.name, "link", "set", "eth1", "up")
        write_state(state, links=links, lines=site.lab_switch.running_lines())
        log = open(tmp_path / "l2.log", "ab")  # noqa: SIM115 - closed below
        process = subprocess.Popen(["ip", "netns", "exec", switch_ns.name, sys.executable, "-m", "apps.lab.l2switch", str(state)],
                                   cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.0)

        def ping(ns, address: str) -> bool:
            return ns.exec("ping", "-c", "2", "-i", "0.3", "-W", "1", address, timeout=15).returncode == 0

        def received(ns) -> int:
            return int(ns.exec("cat", "/sys/class/net/eth1/statistics/rx_packets").stdout)

        c_before = received(servers[2])
        assert ping(servers[0], "192.168.100.2"), (tmp_path / "l2.log").read_text()
        assert ping(servers[1], "192.168.100.1")
        assert not ping(servers[0], "192.168.100.3")  # same subnet, other VLAN: its ARP never gets there
        assert received(servers[2]) == c_before  # not one frame reached the third device

        # Back to Layer 3: the original lines, the same addresses, and the switch stops carrying A's frames.
        with django_capture_on_commit_callbacks(execute=True):
            layer2.port_convert(interface=nic(a, "eth1"), layer2=False, device_label=a.hostname)
            layer2.port_convert(interface=nic(a, "eth0"), layer2=True, device_label=a.hostname)
        assert "set interfaces xe-0/0/10 unit 0 family ethernet-switching interface-mode trunk" in site.lab_switch.running_lines()
        with django_capture_on_commit_callbacks(execute=True):
            layer2.port_convert(interface=nic(a, "eth0"), layer2=False, device_label=a.hostname)
        assert {port: port_lines(site.lab_switch, port) for port in originals} == originals
        assert [str(x.network) for x in server_addresses(a.server)] == addresses
        write_state(state, links=links, lines=site.lab_switch.running_lines())
        time.sleep(0.5)
        assert not ping(servers[1], "192.168.100.1")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        for ns in (*servers, switch_ns):
            ns.delete()

    # No leaked VLANs: once no port uses them, the push removes their definitions from the switch.
    with django_capture_on_commit_callbacks(execute=True):
        for device in (b, c):
            layer2.port_convert(interface=nic(device, "eth1"), layer2=False, device_label=device.hostname)
    assert [line for line in site.lab_switch.running_lines() if line.startswith("set vlans ")] == []
    assert SwitchSync.objects.get(switch=site.switch).vlans == []


def test_the_next_tenant_of_the_server_starts_from_layer3(site, metro, django_capture_on_commit_callbacks):  # noqa: F811
    import uuid

    from apps.ipam import services as ipam
    from apps.network.models import PortLayer
    from apps.network.services import port_configure_for_server

    a = site.devices[0]
    original = port_lines(site.lab_switch, "xe-0/0/11")
    with django_capture_on_commit_callbacks(execute=True):
        layer2.port_convert(interface=nic(a, "eth1"), layer2=True, device_label=a.hostname)
        layer2.port_assign(interface=nic(a, "eth1"), vlan=layer2.vlan_create(project=site.project, metro=metro), project=site.project)
    assert "set interfaces xe-0/0/11 unit 0 family ethernet-switching interface-mode trunk" in site.lab_switch.running_lines()
    # The device goes; another device (another tenant's) gets the server and its links.
    ipam.server_addresses_release(server=a.server)
    ipam.server_addresses_assign(server=a.server, device_id=uuid.uuid4(), device_label="next-tenant")
    with django_capture_on_commit_callbacks(execute=True):
        port_configure_for_server(server=a.server, reason="provisioning the next device")
    assert not PortLayer.objects.filter(interface__server=a.server).exists()
    assert port_lines(site.lab_switch, "xe-0/0/11") == original
    assert [line for line in site.lab_switch.running_lines() if line.startswith("set vlans ")] == []
