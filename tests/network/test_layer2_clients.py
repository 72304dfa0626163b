"""Layer 2 through the real clients against a live Metalyard whose devices sit on a lab switch: packet-python
1.44.3's VLAN and port calls and equinix-metal 0.11.0's strict models (VirtualNetwork, Port) decode every
object; what they do reaches the lab switch; bad input is 422, another tenant's VLAN or port 404."""
from __future__ import annotations

import pytest
import requests

from apps.accounts import services as accounts
from apps.hardware.models import NetworkInterface
from project.public_ids import public_id
from tests.api.clients import metal_client, packet_manager
from tests.factories import UserFactory
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site

em = pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]


@pytest.fixture
def site(lab_switch, facility, pool4, private_pool, pool6, settings, transactional_db):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    owner = UserFactory(email="l2-owner@example.com")
    built = bgp_site.build(lab_switch, facility, owner, nics=2)
    _, built.token = accounts.api_token_create(user=owner, description="l2 clients")
    return built


def port_id(device, name: str) -> str:
    return public_id("port", NetworkInterface.objects.get(server=device.server, name=name).pk)


def trunk_lines(lab_switch, port: str) -> list[str]:
    return [line for line in lab_switch.running_lines() if line.startswith(f"set interfaces {port} unit 0 family ethernet-switching")]


def test_packet_python_vlan_and_port_calls(site, live_server, monkeypatch):
    manager = packet_manager(live_server.url, site.token, monkeypatch)
    project_id = str(site.project.pk)
    vlan = manager.create_vlan(project_id, vxlan=1234, description="storage", metro="da")
    assert (vlan.vxlan, vlan.description, vlan.metro_code, vlan.assigned_to.id) == (1234, "storage", "da", project_id)
    assert [v.id for v in manager.list_vlans(project_id)] == [vlan.id]
    eth1 = port_id(site.device, "eth1")
    manager.disbond_ports(eth1, False)
    manager.convert_layer_2(eth1, vlan.id)
    manager.assign_native_vlan(eth1, "1234")
    assert trunk_lines(site.lab_switch, "xe-0/0/11") == [
        "set interfaces xe-0/0/11 unit 0 family ethernet-switching interface-mode trunk",
        "set interfaces xe-0/0/11 unit 0 family ethernet-switching vlan members metalyard-vlan1234"]
    assert "set interfaces xe-0/0/11 native-vlan-id 1234" in site.lab_switch.running_lines()
    manager.remove_native_vlan(eth1)
    manager.remove_port(eth1, vlan.id)
    manager.convert_layer_3(eth1, [])
    assert trunk_lines(site.lab_switch, "xe-0/0/11") == [] and "set vlans metalyard-vlan1234 vlan-id 1234" not in site.lab_switch.running_lines()
    vlan.delete()
    assert manager.list_vlans(project_id) == []


def test_equinix_metal_models_decode_vlans_and_ports(site, live_server):
    client = metal_client(live_server.url, site.token)
    vlans, ports = em.VLANsApi(client), em.PortsApi(client)
    project_id = str(site.project.pk)
    created = vlans.create_virtual_network(project_id, em.VirtualNetworkCreateInput(metro="da", description="db", tags=["a"]))
    assert (created.vxlan, created.metro.code, created.metro_code, created.tags) == (1000, "da", "da", ["a"])
    assert [v.id for v in vlans.find_virtual_networks(project_id).virtual_networks] == [created.id]
    assert vlans.get_virtual_network(created.id).vxlan == 1000

    eth1 = port_id(site.device, "eth1")
    port = ports.find_port_by_id(eth1)
    assert (port.name, port.network_type, port.type, port.data.bonded, port.bond.name) == ("eth1", "layer3", "NetworkPort", True, "bond0")
    ports.disbond_port(eth1, bulk_disable=False)
    converted = ports.convert_layer2(eth1, em.PortAssignInput(vnid=created.id))
    assert (converted.network_type, converted.data.bonded, [v.href for v in converted.virtual_networks]) == (
        "layer2-individual", False, [f"/metal/v1/virtual-networks/{created.id}"])
    native = ports.assign_native_vlan(eth1, "1000")
    assert native.native_virtual_network.vxlan == 1000
    bond = ports.find_port_by_id(public_id("bond_port", NetworkInterface.objects.get(server=site.device.server, name="eth0").pk))
    assert (bond.name, bond.type, bond.network_type) == ("bond0", "NetworkBondPort", "hybrid")
    # The device itself tells the same story (what Terraform's equinix_metal_device_network_type reads).
    shown = {p.name: p for p in em.DevicesApi(client).find_device_by_id(str(site.device.pk)).network_ports}
    assert (shown["bond0"].network_type, shown["bond0"].id, shown["eth1"].network_type, shown["eth1"].id) == ("hybrid", bond.id, "layer2-individual", eth1)
    assert shown["eth1"].native_virtual_network.vxlan == 1000 and shown["bond0"].data.bonded  # hybrid: eth0 still in the bond
    assert ports.delete_native_vlan(eth1).native_virtual_network is None
    assert ports.unassign_port(eth1, em.PortAssignInput(vnid=created.id)).virtual_networks == []
    back = ports.convert_layer3(eth1, port_convert_layer3_input=em.PortConvertLayer3Input(request_ips=[]))
    assert back.network_type == "layer3"
    vlans.delete_virtual_network(created.id)
    assert vlans.find_virtual_networks(project_id).virtual_networks == []


def test_bad_layer2_input_is_422_and_other_tenants_get_404(site, live_server):
    headers = {"X-Auth-Token": site.token}
    base = f"{live_server.url}/metal/v1"
    project_id = site.project.pk
    first = requests.post(f"{base}/projects/{project_id}/virtual-networks", json={"metro": "da", "vxlan": 1500}, headers=headers, timeout=30)
    assert first.status_code == 201
    taken = requests.post(f"{base}/projects/{project_id}/virtual-networks", json={"metro": "da", "vxlan": 1500}, headers=headers, timeout=30)
    assert taken.status_code == 422 and "already used in metro da" in taken.json()["errors"][0]
    assert requests.post(f"{base}/projects/{project_id}/virtual-networks", json={"metro": "da", "vxlan": 4000}, headers=headers,
                         timeout=30).status_code == 422
    bond0 = public_id("bond_port", NetworkInterface.objects.get(server=site.device.server, name="eth0").pk)
    refused = requests.post(f"{base}/ports/{bond0}/assign", json={"vnid": "1500"}, headers=headers, timeout=30)
    assert refused.status_code == 422 and "not offered" in refused.json()["errors"][0]  # VLANs on a Layer 3 bond0 (hybrid bonded)
    eth1 = port_id(site.device, "eth1")
    layer3 = requests.post(f"{base}/ports/{eth1}/assign", json={"vnid": "1500"}, headers=headers, timeout=30)
    assert layer3.status_code == 422 and "Layer 3 port" in layer3.json()["errors"][0]
    assert trunk_lines(site.lab_switch, "xe-0/0/11") == []

    stranger = UserFactory(email="l2-stranger@example.com")
    accounts.organization_create(name="Other", slug="other-l2", owner=stranger)
    _, other_token = accounts.api_token_create(user=stranger, description="other")
    other = {"X-Auth-Token": other_token}
    vlan_id = first.json()["id"]
    assert requests.get(f"{base}/virtual-networks/{vlan_id}", headers=other, timeout=30).status_code == 404
    assert requests.delete(f"{base}/virtual-networks/{vlan_id}", headers=other, timeout=30).status_code == 404
    assert requests.get(f"{base}/ports/{eth1}", headers=other, timeout=30).status_code == 404
    assert requests.post(f"{base}/ports/{eth1}/convert/layer-2", json={}, headers=other, timeout=30).status_code == 404
