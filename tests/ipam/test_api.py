"""The IPAM API: the staff tree (allocate, free space, utilisation, who-held) and the customer's
Equinix-shaped reservations and assignments, scoped to their projects (another tenant's → 404)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs.models import DeviceState
from apps.ipam import selectors, services
from apps.ipam.models import Block, Kind
from project.public_ids import key_of, public_id
from tests.factories import ProjectFactory, UserFactory
from tests.installs.factories import DeviceFactory


def client_for(user, **token_kwargs) -> APIClient:  # noqa: ANN001
    _, plaintext = accounts.api_token_create(user=user, **token_kwargs)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client


@pytest.fixture
def tenants(pool4, pool6):
    a, b = ProjectFactory(name="a1"), ProjectFactory(name="b1")
    alice, mallory, reader = UserFactory(username="alice"), UserFactory(username="mallory"), UserFactory(username="reader")
    accounts.membership_set(user=alice, organization=a.organization, role=Role.OWNER)
    accounts.membership_set(user=reader, project=a, role=Role.READ_ONLY)
    accounts.membership_set(user=mallory, organization=b.organization, role=Role.OWNER)
    return {"a": a, "b": b, "alice": alice, "mallory": mallory, "reader": reader,
            "b_reservation": services.reservation_create(project=b, pool=pool4, quantity=4)}


# ---------------------------------------------------------------------- staff


def test_staff_allocate_free_utilisation_and_who_held(staff_user, pool4):
    api = client_for(staff_user)
    made = api.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31, "device_label": "sw1"}, format="json")
    assert made.status_code == 201 and made.json()["network"] == "147.75.0.0/31" and made.json()["gateway"] == "147.75.0.0"
    assert api.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 29}, format="json").json()["network"] == "147.75.0.8/29"

    free = api.get(f"/api/ipam/blocks/{pool4.pk}/free?per_page=2").json()
    assert free["free"] == ["147.75.0.2/31", "147.75.0.4/30"]
    assert api.get(free["meta"]["next"]["href"]).json()["free"][:2] == ["147.75.0.16/28", "147.75.0.32/27"]

    use = api.get(f"/api/ipam/blocks/{pool4.pk}/utilisation").json()
    assert (use["total"], use["allocated"], use["assigned"], use["allocated_percent"]) == (256, 10, 10, 3.906)

    held = api.get("/api/ipam/who-held", {"address": "147.75.0.1"}).json()["holders"]
    assert [h["device_label"] for h in held] == ["sw1"]
    assert api.get("/api/ipam/who-held", {"address": "147.75.0.1", "at": "2001-01-01T00:00:00Z"}).json()["holders"] == []
    bad = api.get("/api/ipam/who-held", {"address": "147.75.0.1", "at": "yesterday"})
    assert bad.status_code == 422 and "not an ISO 8601" in bad.json()["errors"][0]


def test_staff_create_refusals_are_422_with_the_message(staff_user, supernet4, facility):
    api = client_for(staff_user)
    ok = api.post("/api/ipam/blocks", {"network": "147.75.1.0/24", "kind": "pool", "parent": supernet4.pk, "facility": "da11"}, format="json")
    assert ok.status_code == 201 and ok.json()["facility"] == "da11"
    clash = api.post("/api/ipam/blocks", {"network": "147.75.1.128/25", "kind": "pool", "facility": "da11"}, format="json")
    assert clash.status_code == 422
    assert clash.json()["errors"] == ["network: 147.75.1.128/25 overlaps the facility pool 147.75.1.0/24 in facility da11."]
    listed = api.get("/api/ipam/blocks", {"within": "147.75.0.0/16"}).json()
    assert [b["network"] for b in listed["blocks"]] == ["147.75.0.0/16", "147.75.1.0/24"]


def test_the_staff_api_is_for_staff_only(tenants, pool4):
    assert client_for(tenants["alice"]).get("/api/ipam/blocks").status_code == 403
    assert APIClient().get(f"/api/ipam/blocks/{pool4.pk}/utilisation").status_code in (401, 403)


def test_read_only_staff_token_cannot_allocate(staff_user, pool4):
    api = client_for(staff_user, read_only=True)
    assert api.get(f"/api/ipam/blocks/{pool4.pk}").status_code == 200
    assert api.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31}, format="json").status_code == 403


# ---------------------------------------------------------------------- customers


def test_customer_reserves_assigns_and_releases(tenants, facility):
    api, project = client_for(tenants["alice"]), tenants["a"]
    device = DeviceFactory(project=project, facility=facility, hostname="web-1")
    made = api.post(f"/metal/v1/projects/{project.pk}/ips", {"type": "public_ipv4", "quantity": 8, "facility": "da11"}, format="json")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert (body["network"], body["cidr"], body["type"], body["public"]) == ("147.75.0.8", 29, "public_ipv4", True)
    available = api.get(f"/metal/v1/ips/{body['id']}/available?cidr=32").json()["available"]
    assert available[0] == "147.75.0.8/32" and len(available) == 8

    assigned = api.post(f"/metal/v1/ips/{body['id']}/assignments",
                        {"address": "147.75.0.9/32", "device_id": str(device.pk)}, format="json")
    assert assigned.status_code == 201, assigned.json()
    assert assigned.json()["assigned_to"] == {"id": str(device.pk), "hostname": "web-1", "href": f"/metal/v1/devices/{device.pk}"}
    assert assigned.json()["address"] == "147.75.0.9"
    v6 = api.post(f"/metal/v1/projects/{project.pk}/ips", {"type": "public_ipv6", "cidr": 56, "metro": "da"}, format="json")
    assert v6.status_code == 201 and v6.json()["cidr"] == 56

    listed = api.get(f"/metal/v1/projects/{project.pk}/ips?include=assignments").json()
    assert sorted(i["cidr"] for i in listed["ip_addresses"]) == [29, 56]
    assert [a["cidr"] for i in listed["ip_addresses"] for a in i.get("assignments", [])] == [32]
    assert [i["cidr"] for i in api.get(f"/metal/v1/projects/{project.pk}/ips?types=public_ipv6").json()["ip_addresses"]] == [56]
    assert api.get(f"/api/projects/{project.pk}/ips").status_code == 404  # the customer API lives only under /metal/v1/

    refused = api.delete(f"/metal/v1/ips/{body['id']}")
    assert refused.status_code == 422 and "release them first" in refused.json()["errors"][0]
    assert api.delete(f"/metal/v1/ips/{assigned.json()['id']}").status_code == 204
    assert api.delete(f"/metal/v1/ips/{body['id']}").status_code == 204
    assert Block.objects.get(pk=key_of("ip", body["id"])).released_at is not None


def test_customers_never_see_another_tenants_blocks(tenants):
    theirs = tenants["b_reservation"]
    api = client_for(tenants["alice"])
    assert api.get(f"/metal/v1/ips/{public_id('ip', theirs.pk)}").status_code == 404
    assert api.delete(f"/metal/v1/ips/{public_id('ip', theirs.pk)}").status_code == 404
    assert api.post(f"/metal/v1/ips/{public_id('ip', theirs.pk)}/assignments", {"cidr": 32}, format="json").status_code == 404
    assert api.get(f"/metal/v1/projects/{tenants['b'].pk}/ips").status_code == 404
    assert client_for(tenants["mallory"]).get(f"/metal/v1/ips/{public_id('ip', theirs.pk)}").status_code == 200
    # The one selector every face uses: only the caller's projects' reservations and assignments.
    assert list(selectors.blocks_visible_to(tenants["alice"])) == []
    assert [b.pk for b in selectors.blocks_visible_to(tenants["mallory"])] == [theirs.pk]
    assert not selectors.blocks_visible_to(tenants["mallory"]).filter(kind__in=[Kind.POOL, Kind.SUPERNET]).exists()


def test_customers_assign_only_to_their_projects_live_devices(tenants, pool4, facility):
    mine = services.reservation_create(project=tenants["a"], pool=pool4, quantity=4)
    theirs = DeviceFactory(project=tenants["b"], facility=facility)
    gone = DeviceFactory(project=tenants["a"], facility=facility, state=DeviceState.DELETED)
    api = client_for(tenants["alice"])
    for device in (theirs, gone):
        refused = api.post(f"/metal/v1/ips/{public_id('ip', mine.pk)}/assignments", {"cidr": 32, "device_id": str(device.pk)}, format="json")
        assert refused.status_code == 422
        assert refused.json()["fields"]["device_id"] == f"There is no device {device.pk} in project a1."
    assert not Block.objects.filter(parent=mine).exists()
    # The same request with the caller's own live device goes through.
    own = DeviceFactory(project=tenants["a"], facility=facility)
    made = api.post(f"/metal/v1/ips/{public_id('ip', mine.pk)}/assignments", {"cidr": 32, "device_id": str(own.pk)}, format="json")
    assert made.status_code == 201 and made.json()["assigned_to"]["hostname"] == own.hostname


def test_read_only_members_see_but_cannot_reserve(tenants, pool4):
    mine = services.reservation_create(project=tenants["a"], pool=pool4, quantity=2)
    api = client_for(tenants["reader"])
    assert api.get(f"/metal/v1/ips/{public_id('ip', mine.pk)}").status_code == 200
    refused = api.post(f"/metal/v1/projects/{tenants['a'].pk}/ips", {"type": "public_ipv4", "quantity": 2, "facility": "da11"},
                       format="json")
    assert refused.status_code == 403 and "collaborator" in refused.json()["errors"][0]
    assert api.delete(f"/metal/v1/ips/{public_id('ip', mine.pk)}").status_code == 403
