"""Terraform's calls for a device's ports replayed (tests/api/terraform.py says how):
equinix_metal_device_network_type (packngo's ConvertDevice and GetNetworkType, tests/network/packngo_ports.py)
and equinix_metal_port_vlan_attachment (metal-go calls and the provider's VLAN batches), create → read → plan
→ update → destroy, on devices whose ports are on a lab switch; plus the batches' own rules (one push per
batch, 422 for bad input, failed with the switch's reason)."""
from __future__ import annotations

import pytest

from apps.network.models import ConfigPush, VlanAssignmentBatch
from tests.api.terraform import decode, validate_uuid
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site
from tests.network.packngo_ports import HYBRID, L2_BONDED, L2_INDIVIDUAL, L3, get_network_type, network_type_resource_apply, vlan_batch_execute
from tests.network.terraform_site import lines_of, site  # noqa: F401

pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]
DEVICE_INCLUDES = {"include": "virtual_networks,project,native_virtual_network"}


def attachment_read(tf, device_id: str, port_name: str, vnid: int) -> dict | None:
    """resourceMetalPortVlanAttachmentRead: the device with its ports' VLANs; None when the VLAN is gone (state removed)."""
    device = tf("GET", f"devices/{device_id}", query=DEVICE_INCLUDES)
    decode("Device", device)
    port = next(p for p in device["network_ports"] if p["name"] == port_name)
    for vlan in port.get("virtual_networks") or []:
        if vlan.get("vxlan") == vnid:
            native = port.get("native_virtual_network") or {}
            return {"port_id": port["id"], "vlan_id": vlan["id"], "native": native.get("id") == vlan["id"]}
    return None


def attachment_create(tf, device_id: str, port_name: str, vnid: int, *, native: bool = False) -> dict:
    """resourceMetalPortVlanAttachmentCreate: find the port and the VLAN (by VLAN id in the device's metro), one batch, native after."""
    device = tf("GET", f"devices/{validate_uuid(device_id)}", query=DEVICE_INCLUDES)
    port = next(p for p in device["network_ports"] if p["name"] == port_name)
    vlans = decode("VirtualNetworkList", tf("GET", f"projects/{device['project']['id']}/virtual-networks")).virtual_networks
    vlan_id = next(v.id for v in vlans if v.vxlan == vnid and v.metro_code == device["metro"]["code"])
    vlan_batch_execute(tf, port["id"], [{"vlan": vlan_id, "state": "assigned"}])
    if native:
        tf("POST", f"ports/{port['id']}/native-vlan", query={"vnid": vlan_id})
    return attachment_read(tf, device_id, port_name, vnid)


def attachment_delete(tf, device_id: str, state: dict, *, port_name: str, force_bond: bool = False) -> None:
    if state["native"]:
        tf("DELETE", f"ports/{state['port_id']}/native-vlan", ok=(200, 403, 404))
    vlan_batch_execute(tf, state["port_id"], [{"vlan": state["vlan_id"], "state": "unassigned"}])
    port = decode("Port", tf("GET", f"ports/{state['port_id']}"))
    if force_bond and not port.virtual_networks:
        device = tf("GET", f"devices/{device_id}")
        eth = next(p for p in device["network_ports"] if p["name"] == port_name)
        tf("POST", f"ports/{eth['id']}/bond", query={"bulk_enable": "false"})


def test_device_network_type_hybrid_and_port_vlan_attachments(site) -> None:  # noqa: F811
    tf, device_id = site.tf, str(site.device.pk)
    originals = {port: lines_of(site.lab_switch, f"interfaces {port} ") for port in ("xe-0/0/10", "xe-0/0/11")}
    for vnid in (1000, 1001):
        tf("POST", f"projects/{site.project.pk}/virtual-networks", {"project_id": str(site.project.pk), "description": "", "metro": "da",
                                                                    "vxlan": vnid})
    # resource "equinix_metal_device_network_type" { type = "hybrid" }: eth1 leaves the bond (packngo's only call).
    assert get_network_type(tf("GET", f"devices/{device_id}")) == L3
    assert network_type_resource_apply(tf, device_id, HYBRID) == HYBRID
    assert network_type_resource_apply(tf, device_id, HYBRID) == HYBRID  # plan: no diff, nothing sent
    assert [m for m, url in tf.log[-2:]] == ["GET", "GET"]
    assert lines_of(site.lab_switch, "interfaces xe-0/0/10 ") == originals["xe-0/0/10"]  # the routed link stays
    assert "set interfaces xe-0/0/11 unit 0 family ethernet-switching interface-mode trunk" in site.lab_switch.running_lines()

    # resource "equinix_metal_port_vlan_attachment" "test1" { port_name = "eth1", vlan_vnid = 1000 } and "test2" (native).
    pushes = ConfigPush.objects.count()
    first = attachment_create(tf, device_id, "eth1", 1000)
    assert ConfigPush.objects.count() == pushes + 1  # one batch, one push
    assert first["native"] is False and first["port_id"] == tf("GET", f"devices/{device_id}")["network_ports"][2]["id"]
    second = attachment_create(tf, device_id, "eth1", 1001, native=True)
    assert second["native"] is True
    assert attachment_read(tf, device_id, "eth1", 1000) == first and attachment_read(tf, device_id, "eth1", 1001) == second  # plan
    assert {"set interfaces xe-0/0/11 native-vlan-id 1001",
            "set interfaces xe-0/0/11 unit 0 family ethernet-switching vlan members metalyard-vlan1000",
            "set interfaces xe-0/0/11 unit 0 family ethernet-switching vlan members metalyard-vlan1001"} <= set(site.lab_switch.running_lines())
    listed = tf("GET", f"ports/{first['port_id']}/vlan-assignments")
    decode("PortVlanAssignmentList", listed)
    assert [(a["vlan"], a["native"], a["state"]) for a in listed["vlan_assignments"]] == [(1000, False, "assigned"), (1001, True, "assigned")]
    one = tf("GET", f"ports/{first['port_id']}/vlan-assignments/{listed['vlan_assignments'][0]['id']}")
    assert decode("PortVlanAssignment", one).vlan == 1000
    batches = decode("PortVlanAssignmentBatchList", tf("GET", f"ports/{first['port_id']}/vlan-assignments/batches")).batches
    assert [b.state for b in batches] == ["completed", "completed"] and batches[0].vlan_assignments[0].vlan == 1000

    # Update: native = false on test2 (DeleteNativeVlan), then Read.
    tf("DELETE", f"ports/{second['port_id']}/native-vlan")
    second = attachment_read(tf, device_id, "eth1", 1001)
    assert second["native"] is False and "set interfaces xe-0/0/11 native-vlan-id 1001" not in site.lab_switch.running_lines()

    # Destroy test2, then test1 with force_bond: eth1 back in the bond, the device layer3 again, the switch as before.
    attachment_delete(tf, device_id, second, port_name="eth1")
    assert attachment_read(tf, device_id, "eth1", 1001) is None  # Read after destroy: removed from state
    attachment_delete(tf, device_id, first, port_name="eth1", force_bond=True)
    assert get_network_type(tf("GET", f"devices/{device_id}")) == L3
    assert {port: lines_of(site.lab_switch, f"interfaces {port} ") for port in originals} == originals
    assert not lines_of(site.lab_switch, "set vlans ")


def test_vlan_batches_one_push_refusals_and_a_failed_switch(site) -> None:  # noqa: F811
    tf, device = site.tf, site.device
    vlans = [tf("POST", f"projects/{site.project.pk}/virtual-networks", {"metro": "da", "vxlan": v})["id"] for v in (1100, 1101, 1102)]
    eth1 = next(p for p in tf("GET", f"devices/{device.pk}")["network_ports"] if p["name"] == "eth1")
    # A batch on a Layer 3 port, of a VLAN the project lacks, with two natives: 422, nothing queued.
    layer3 = tf("POST", f"ports/{eth1['id']}/vlan-assignments/batches", {"vlan_assignments": [{"vlan": vlans[0], "state": "assigned"}]}, ok=(422,))
    assert "Layer 3 port" in layer3["errors"][0]
    tf("POST", f"ports/{eth1['id']}/disbond", {"bulk_disable": False})
    unknown = tf("POST", f"ports/{eth1['id']}/vlan-assignments/batches", {"vlan_assignments": [{"vlan": "4000", "state": "assigned"}]}, ok=(422,))
    assert "no VLAN '4000'" in unknown["errors"][0]
    natives = tf("POST", f"ports/{eth1['id']}/vlan-assignments/batches", {"vlan_assignments": [
        {"vlan": vlans[0], "state": "assigned", "native": True}, {"vlan": vlans[1], "state": "assigned", "native": True}]}, ok=(422,))
    assert "one VLAN of the batch is native" in natives["errors"][0]
    assert not VlanAssignmentBatch.objects.exists()

    # Three VLANs (by id and by VLAN number), one native: one push.
    pushes = ConfigPush.objects.count()
    done = vlan_batch_execute(tf, eth1["id"], [{"vlan": vlans[0], "state": "assigned"}, {"vlan": "1101", "state": "assigned", "native": True},
                                               {"vlan": vlans[2], "state": "assigned"}])
    assert done["state"] == "completed" and done["quantity"] == 3 and ConfigPush.objects.count() == pushes + 1
    decode("PortVlanAssignmentBatch", done)
    assert "set interfaces xe-0/0/11 native-vlan-id 1101" in site.lab_switch.running_lines()

    # The switch refuses the commit: the batch fails with Junos's reason, the running configuration stays as it was.
    before = site.lab_switch.running_lines()
    site.lab_switch.faults.refuse_commit = True
    batch = tf("POST", f"ports/{eth1['id']}/vlan-assignments/batches", {"vlan_assignments": [{"vlan": vlans[2], "state": "unassigned"}]})
    failed = tf("GET", f"ports/{eth1['id']}/vlan-assignments/batches/{batch['id']}")
    assert failed["state"] == "failed" and "refuse_commit" in failed["error_messages"][0], failed
    assert site.lab_switch.running_lines() == before
    # Every step is audited and in the device's and the project's events.
    kinds = {e["type"] for e in tf("GET", f"devices/{device.pk}/events")["events"]}
    assert {"network.port.disbond", "network.vlan_batch.create", "network.port.vlan_batch", "network.vlanassignmentbatch.transition"} <= kinds
    assert "network.vlan_batch.create" in {e["type"] for e in tf("GET", f"projects/{site.project.pk}/events")["events"]}


def test_device_network_type_layer2_bonded_individual_and_back(site, facility) -> None:  # noqa: F811
    tf, device_id = site.tf, str(site.device.pk)
    originals = {port: lines_of(site.lab_switch, f"interfaces {port} ") for port in ("xe-0/0/10", "xe-0/0/11")}
    addresses = [a["address"] for a in tf("GET", f"devices/{device_id}")["ip_addresses"]]
    tf("POST", f"projects/{site.project.pk}/virtual-networks", {"project_id": str(site.project.pk), "description": "", "metro": "da", "vxlan": 1200})

    # type = "layer2-bonded": bond0 to Layer 2 (packngo's one call); both NICs an LACP bundle, no addresses shown.
    assert network_type_resource_apply(tf, device_id, L2_BONDED) == L2_BONDED
    assert network_type_resource_apply(tf, device_id, L2_BONDED) == L2_BONDED  # plan: no diff
    assert tf("GET", f"devices/{device_id}")["ip_addresses"] == []
    bonded = attachment_create(tf, device_id, "bond0", 1200)  # VLANs go on bond0 (the bundle)
    assert bonded is not None and attachment_read(tf, device_id, "bond0", 1200) == bonded
    eth0 = next(p for p in tf("GET", f"devices/{device_id}")["network_ports"] if p["name"] == "eth0")
    assert [a["vlan"] for a in tf("GET", f"ports/{bonded['port_id']}/vlan-assignments")["vlan_assignments"]] == [1200]
    assert tf("GET", f"ports/{eth0['id']}/vlan-assignments")["vlan_assignments"] == []  # a member carries none of its own
    assert lines_of(site.lab_switch, "interfaces ae10 ") == [
        'set interfaces ae10 description "metalyard DA11-BGP-00 eth0 bond0"', "set interfaces ae10 mtu 9216",
        "set interfaces ae10 aggregated-ether-options lacp active",
        "set interfaces ae10 unit 0 family ethernet-switching interface-mode trunk",
        "set interfaces ae10 unit 0 family ethernet-switching vlan members metalyard-vlan1200"]
    assert lines_of(site.lab_switch, "interfaces xe-0/0/11 ") == ['set interfaces xe-0/0/11 description "metalyard DA11-BGP-00 eth1 bond0"',
                                                                 "set interfaces xe-0/0/11 ether-options 802.3ad ae10"]
    eth1 = next(p for p in tf("GET", f"devices/{device_id}")["network_ports"] if p["name"] == "eth1")
    refused = tf("POST", f"ports/{eth1['id']}/assign", {"vnid": bonded["vlan_id"]}, ok=(422,))
    assert "member of bond0" in refused["errors"][0]
    attachment_delete(tf, device_id, bonded, port_name="bond0")

    # type = "layer2-individual": bond0 disbonded in bulk; each NIC its own trunk, the bundle gone.
    assert network_type_resource_apply(tf, device_id, L2_INDIVIDUAL) == L2_INDIVIDUAL
    assert not lines_of(site.lab_switch, "interfaces ae10")
    assert "set interfaces xe-0/0/10 unit 0 family ethernet-switching interface-mode trunk" in site.lab_switch.running_lines()

    # type = "layer3": bond0 bonded, converted to Layer 3: exactly the original lines, the same addresses.
    assert network_type_resource_apply(tf, device_id, L3) == L3
    assert {port: lines_of(site.lab_switch, f"interfaces {port} ") for port in originals} == originals
    assert not lines_of(site.lab_switch, "interfaces ae10")
    assert [a["address"] for a in tf("GET", f"devices/{device_id}")["ip_addresses"]] == addresses

    # A bond on a server with one cabled NIC: 422, nothing changes on the switch.
    single = bgp_site.active_device(switch=site.switch, project=site.project, facility=facility, index=5, nics=1)
    before = site.lab_switch.running_lines()
    bond0 = next(p for p in tf("GET", f"devices/{single.pk}")["network_ports"] if p["name"] == "bond0")
    refused = tf("POST", f"ports/{bond0['id']}/convert/layer-2", ok=(422,))
    assert "1 cabled NIC: a bond (LACP) needs two" in refused["errors"][0]
    assert site.lab_switch.running_lines() == before
