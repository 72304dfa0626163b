"""Terraform's calls for customer networking replayed (tests/api/terraform.py says how): for
equinix_metal_vlan, equinix_metal_bgp_session and the project's bgp_config block, the exact HTTP sequence
of create → read → plan (read again: no diff) → update where the resource has one → destroy, with packngo's
client-side id checks and metal-go's strict decoding, asserting what the provider asserts. The devices sit
on a lab switch, so what Terraform asks for reaches the switch through the push path."""
from __future__ import annotations

import pytest

from apps.network.models import BgpConfig, VirtualNetwork
from tests.api.terraform import ProviderError, base, decode, validate_uuid
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network.terraform_site import lines_of, site  # noqa: F401

pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(240)]


def test_equinix_metal_vlan(site) -> None:  # noqa: F811
    tf, project_id = site.tf, str(site.project.pk)
    includes = {"include": "assigned_to,facility,metro"}

    def read(vlan_id: str) -> dict:
        raw = tf("GET", f"virtual-networks/{validate_uuid(vlan_id)}", query=includes)
        decode("VirtualNetwork", raw)
        # ResourceModel.parse: project from assigned_to, facility "" unless one, metro from metro.code.
        return {"id": raw["id"], "vxlan": raw["vxlan"], "project_id": raw["assigned_to"]["id"], "description": raw["description"] or "",
                "facility": (raw.get("facility") or {}).get("code", "").lower(), "metro": raw["metro"]["code"]}

    # resource "equinix_metal_vlan" { project_id, metro = "DA", description }: packngo VirtualNetworkCreateRequest.
    created = tf("POST", f"projects/{validate_uuid(project_id)}/virtual-networks",
                 {"project_id": project_id, "description": "storage", "metro": "da"})
    state = read(created["id"])
    assert state == {"id": created["id"], "vxlan": 1000, "project_id": project_id, "description": "storage", "facility": "", "metro": "da"}
    assert read(created["id"]) == state  # plan: no diff
    # A second one with the VLAN id given (vxlan only with a metro), and an empty description (sent as "").
    given = tf("POST", f"projects/{project_id}/virtual-networks", {"project_id": project_id, "description": "", "metro": "da", "vxlan": 1234})
    assert read(given["id"])["vxlan"] == 1234 and read(given["id"])["description"] == ""
    refused = tf("POST", f"projects/{project_id}/virtual-networks", {"project_id": project_id, "description": "", "metro": "da", "vxlan": 1234},
                 ok=(422,))
    assert "already used in metro da" in refused["errors"][0]

    # Update (metal-go UpdateVirtualNetwork, include=assigned_to): only the description; parseMetalV1 reads it back.
    updated = decode("VirtualNetwork", tf("PUT", f"virtual-networks/{created['id']}", {"description": "storage-2"}, query={"include": "assigned_to"}))
    assert (updated.description, updated.assigned_to.id, updated.metro_code, updated.facility) == ("storage-2", project_id, "da", None)
    assert read(created["id"])["description"] == "storage-2"

    # Destroy: the VLAN with its instances; every port of theirs carrying it is unassigned first, then DELETE.
    eth1 = next(p for p in tf("GET", f"devices/{site.device.pk}")["network_ports"] if p["name"] == "eth1")
    tf("POST", f"ports/{validate_uuid(eth1['id'])}/disbond", {"bulk_disable": False})
    tf("POST", f"ports/{eth1['id']}/assign", {"vnid": created["id"]})
    assert lines_of(site.lab_switch, "vlan members metalyard-vlan1000")
    tf("DELETE", f"virtual-networks/{created['id']}", ok=(422,))  # still on a port: the real service refuses too
    for vlan_id in (created["id"], given["id"]):
        raw = tf("GET", f"virtual-networks/{vlan_id}", query={"include": "instances,virtual_networks,metal_gateway"})
        decode("VirtualNetwork", raw)
        for instance in raw.get("instances") or []:
            for port in instance["network_ports"]:
                for attached in port.get("virtual_networks") or []:
                    if base(attached["href"]) == raw["id"]:
                        tf("POST", f"ports/{validate_uuid(port['id'])}/unassign", {"vnid": raw["id"]}, ok=(200, 403, 404))
        tf("DELETE", f"virtual-networks/{vlan_id}", ok=(204, 403, 404))
    assert not VirtualNetwork.objects.filter(project=site.project).exists()
    assert not lines_of(site.lab_switch, "metalyard-vlan1000")
    tf("GET", f"virtual-networks/{created['id']}", query=includes, ok=(404,))  # refresh after destroy: gone from state


def test_project_bgp_config_block(site) -> None:  # noqa: F811
    tf = site.tf

    def read(project_id: str) -> dict:
        """equinix_metal_project Read: the project, then FindBgpConfigByProject; parseBGPConfig keeps md5 only when not null."""
        project = decode("Project", tf("GET", f"projects/{validate_uuid(project_id)}"))
        bgp = decode("BgpConfig", tf("GET", f"projects/{project_id}/bgp-config"))
        empty = bgp.deployment_type is None and bgp.asn is None and bgp.status is None
        block = None if empty else {"deployment_type": bgp.deployment_type, "asn": bgp.asn, "md5": bgp.md5, "status": bgp.status,
                                    "max_prefix": bgp.max_prefix}
        return {"name": project.name, "bgp_config": block}

    # resource "equinix_metal_project" { name; bgp_config { deployment_type = "local", asn = 65000, md5 = … } }
    created = tf("POST", "projects", {"name": "tf-bgp", "organization_id": str(site.project.organization_id)})
    tf("POST", f"projects/{created['id']}/bgp-configs", {"deployment_type": "local", "asn": 65000, "md5": "Secret12345"}, ok=(204,))
    state = read(created["id"])
    assert state == {"name": "tf-bgp", "bgp_config": {"deployment_type": "local", "asn": 65000, "md5": "Secret12345", "status": "enabled",
                                                      "max_prefix": 10}}
    assert read(created["id"]) == state  # plan: no diff
    # bgp_config changed (the password): handleBGPConfigChanges requests the configuration again, then reads it.
    tf("POST", f"projects/{created['id']}/bgp-configs", {"deployment_type": "local", "asn": 65000, "md5": "Secret67890"}, ok=(204,))
    assert read(created["id"])["bgp_config"]["md5"] == "Secret67890"
    # Without a password the field reads back null (the provider leaves md5 unset: no diff against a config without one).
    tf("POST", f"projects/{created['id']}/bgp-configs", {"deployment_type": "local", "asn": 65000}, ok=(204,))
    assert read(created["id"])["bgp_config"]["md5"] is None
    # A project created without the block reads an empty configuration: bgp_config stays null.
    plain = tf("POST", "projects", {"name": "tf-plain"})
    assert read(plain["id"])["bgp_config"] is None
    refused = tf("POST", f"projects/{plain['id']}/bgp-configs", {"deployment_type": "local", "asn": 15169}, ok=(422,))
    assert "private ASN" in refused["errors"][0] and read(plain["id"])["bgp_config"] is None
    # Destroy: the project goes (its BGP configuration stays with its history).
    tf("DELETE", f"projects/{created['id']}", ok=(204,))
    tf("GET", f"projects/{created['id']}", ok=(404,))
    assert BgpConfig.objects.filter(project_id=created["id"]).exists()


def test_equinix_metal_bgp_session(site) -> None:  # noqa: F811
    tf, device_id = site.tf, str(site.device.pk)
    tf("POST", f"projects/{site.project.pk}/bgp-configs", {"deployment_type": "local", "asn": 65000}, ok=(204,))

    def read(session_id: str) -> dict:
        """packngo BGPSessions.Get(include=device): device_id from device.id, status computed, default_route from a *bool."""
        raw = tf("GET", f"bgp/sessions/{validate_uuid(session_id)}", query={"include": "device"})
        decode("BgpSession", raw)
        return {"id": raw["id"], "device_id": raw["device"]["id"], "address_family": raw["address_family"],
                "default_route": bool(raw.get("default_route")), "status": raw["status"]}

    # resource "equinix_metal_bgp_session" { device_id, address_family = "ipv4", default_route = true }
    created = tf("POST", f"devices/{validate_uuid(device_id)}/bgp/sessions", {"address_family": "ipv4", "default_route": True})
    state = read(created["id"])
    assert state == {"id": created["id"], "device_id": device_id, "address_family": "ipv4", "default_route": True, "status": state["status"]}
    assert state["status"] in ("unknown", "up", "down")
    assert read(created["id"]) == state  # plan: no diff (every attribute is ForceNew: no update)
    assert lines_of(site.lab_switch, "set protocols bgp group metalyard-xe-0-0-10-v4 neighbor 10.11.0.1")
    # A second session of the same family is the real service's 422 (Terraform shows the error).
    again = tf("POST", f"devices/{device_id}/bgp/sessions", {"address_family": "ipv4", "default_route": False}, ok=(422,))
    assert "already has an ipv4 BGP session" in again["errors"][0]
    # Destroy, and a second destroy (403/404 ignored by the provider) changes nothing.
    tf("DELETE", f"bgp/sessions/{created['id']}", ok=(204,))
    tf("DELETE", f"bgp/sessions/{created['id']}", ok=(404,))
    tf("GET", f"bgp/sessions/{created['id']}", query={"include": "device"}, ok=(404,))
    assert not lines_of(site.lab_switch, "metalyard-xe-0-0-10-v4")
    with pytest.raises(ProviderError, match="not a valid UUID"):
        validate_uuid("xe-0/0/10")
