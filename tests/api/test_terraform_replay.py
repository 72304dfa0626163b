"""Terraform's calls replayed (tests/api/terraform.py says how): for each resource and data source, the
exact HTTP sequence of create → read → plan (read again: no diff) → update → destroy, with packngo's
client-side id checks and metal-go's strict decoding, asserting what the provider asserts."""
from __future__ import annotations

import ipaddress

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Project, Role, SSHKey
from apps.installs.models import Device
from apps.ipam.models import Block
from tests.api.clients import wait_until
from tests.api.terraform import ProviderError, base, decode, django_transport, requests_transport, validate_uuid
from tests.factories import UserFactory

pytest.importorskip("equinix_metal")

# What tls_private_key / file() give Terraform: the key with its trailing newline.
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl terraform\n"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBNm3DFnwmAyvxRBnhSqRnVeDNxqC4X6pWwEJ7qSbts other\n"


@pytest.fixture
def terraform(db, rack):
    user = UserFactory(email="tf@example.com")
    org = accounts.organization_create(name="Acme", slug="acme-tf", owner=user)
    _, token = accounts.api_token_create(user=user, description="terraform")
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=token)
    return {"tf": django_transport(client), "user": user, "org": org, **rack}


def project_state(tf, project_id: str) -> dict:
    """equinix_metal_project Read: the project, then its BGP config (an error there fails the refresh)."""
    project = decode("Project", tf("GET", f"projects/{validate_uuid(project_id)}"))
    bgp = decode("BgpConfig", tf("GET", f"projects/{project_id}/bgp-config"))
    return {"name": project.name, "organization_id": base(project.organization.href), "backend_transfer": project.backend_transfer_enabled,
            "bgp_config": [] if bgp.deployment_type is None and bgp.asn is None and bgp.status is None else [bgp]}


@pytest.mark.django_db
def test_equinix_metal_project_and_its_data_source(terraform) -> None:
    tf = terraform["tf"]
    created = decode("Project", tf("POST", "projects", {"name": "tf-project"}))  # no organization_id in the config
    state = project_state(tf, created.id)
    assert state == {"name": "tf-project", "organization_id": str(terraform["org"].pk), "backend_transfer": False, "bgp_config": []}
    assert project_state(tf, created.id) == state  # plan: no diff
    # data "equinix_metal_project" { name = … }: exactly one match, else "too many projects found".
    tf("POST", "projects", {"name": "tf-other"})
    found = decode("ProjectList", tf("GET", "projects", query={"name": "tf-project"})).projects
    assert [p.id for p in found] == [created.id]
    tf("PUT", f"projects/{created.id}", {"name": "tf-renamed"})
    tf("PUT", f"projects/{created.id}", {"backend_transfer_enabled": False})  # only what changed
    assert project_state(tf, created.id)["name"] == "tf-renamed"
    tf("DELETE", f"projects/{created.id}", ok=(204,))
    with pytest.raises(ProviderError, match="404"):
        tf("GET", f"projects/{created.id}")
    assert Project.with_deleted.filter(pk=created.id).exists()  # the history keeps it


@pytest.mark.django_db
def test_equinix_metal_ssh_key_and_project_ssh_key(terraform) -> None:
    tf = terraform["tf"]
    key = decode("SSHKey", tf("POST", "ssh-keys", {"label": "tf", "key": KEY}))
    # The plugin framework's "inconsistent result after apply": what is read back must be what was sent.
    read = decode("SSHKey", tf("GET", f"ssh-keys/{validate_uuid(key.id)}"))
    assert (read.key, read.label) == (KEY, "tf") and base(tf("GET", f"ssh-keys/{key.id}")["owner"]["href"])
    tf("PUT", f"ssh-keys/{key.id}", {"label": "tf-2"})
    assert decode("SSHKey", tf("GET", f"ssh-keys/{key.id}")).label == "tf-2"
    tf("DELETE", f"ssh-keys/{key.id}", ok=(204,))
    tf("GET", f"ssh-keys/{key.id}", ok=(404,))  # Read after destroy: gone, removed from state

    project = tf("POST", "projects", {"name": "keys"})
    project_key = decode("SSHKey", tf("POST", f"projects/{project['id']}/ssh-keys", {"label": "deploy", "key": OTHER_KEY}))
    raw = tf("GET", f"ssh-keys/{project_key.id}")
    assert base(raw["owner"]["href"]) == project["id"] and raw["key"] == OTHER_KEY  # project_id is read from owner.href
    listed = decode("SSHKeyList", tf("GET", f"projects/{project['id']}/ssh-keys", query={"query": "deploy"})).ssh_keys
    assert [k.id for k in listed] == [project_key.id]
    tf("DELETE", f"ssh-keys/{project_key.id}", ok=(204,))
    assert not SSHKey.objects.filter(pk=project_key.id).exists()


@pytest.mark.django_db
def test_equinix_metal_project_api_key(terraform) -> None:
    tf = terraform["tf"]
    project = tf("POST", "projects", {"name": "keys"})
    created = tf("POST", f"projects/{validate_uuid(project['id'])}/api-keys", {"description": "ccm", "read_only": True})
    # packngo ProjectGet: list the project's keys (following pages) and take the one with this id.
    keys = tf.list_all(f"projects/{project['id']}/api-keys", "api_keys", query={"per_page": "1"})
    mine = [k for k in keys if k["id"] == validate_uuid(created["id"])]
    assert len(mine) == 1 and mine[0]["token"] == created["token"] and mine[0]["read_only"] is True
    assert decode("AuthToken", mine[0]).token == created["token"]
    # packngo deletes a project key through the user path.
    tf("DELETE", f"user/api-keys/{created['id']}", ok=(204,))
    assert APIToken.objects.get(pk=created["id"]).revoked_at is not None
    assert created["id"] not in [k["id"] for k in tf.list_all(f"projects/{project['id']}/api-keys", "api_keys")]


@pytest.mark.django_db
def test_equinix_metal_reserved_ip_block(terraform) -> None:
    tf = terraform["tf"]
    project = tf("POST", "projects", {"name": "ips"})
    metro = terraform["facility"].metro.code
    # packngo IPReservationCreateRequest: description travels as "details".
    created = tf("POST", f"projects/{project['id']}/ips", {"type": "public_ipv4", "quantity": 4, "metro": metro.upper(),
                                                            "details": "lb", "tags": ["a", "b"], "customdata": {"k": "v"}})
    block_id = validate_uuid(created["id"])  # the provider's next call validates it before sending

    def read() -> dict:
        raw = tf("GET", f"ips/{block_id}", query={"include": "facility,metro,project,vrf",
                                                  "types": "public_ipv4,global_ipv4,private_ipv4,public_ipv6,vrf"})
        decode("IPReservation", raw)
        return {"quantity": 1 << (32 - raw["cidr"]), "metro": (raw.get("metro") or raw["facility"]["metro"])["code"].lower(),
                "project_id": base(raw["project"]["href"]), "description": raw["details"], "tags": sorted(raw["tags"]),
                "custom_data": raw["customdata"], "type": raw["type"], "cidr_notation": f"{raw['network']}/{raw['cidr']}"}

    state = read()
    assert state["quantity"] == 4 and state["metro"] == metro and state["project_id"] == project["id"]
    assert (state["description"], state["tags"], state["custom_data"], state["type"]) == ("lb", ["a", "b"], {"k": "v"}, "public_ipv4")
    assert read() == state  # plan: no diff
    tf("PATCH", f"ips/{block_id}", {"details": "lb-2", "tags": ["a"]})
    assert (read()["description"], read()["tags"]) == ("lb-2", ["a"])
    tf("DELETE", f"ips/{block_id}", ok=(204,))
    assert Block.objects.get(network=state["cidr_notation"], kind="reservation").released_at is not None
    with pytest.raises(ProviderError, match="not a valid UUID"):
        validate_uuid("15")  # what an integer id did to the provider before


@pytest.mark.django_db
def test_data_sources_plans_metro_and_capacity(terraform) -> None:
    tf = terraform["tf"]
    plans = tf.list_all("plans", "plans", query={"include": "available_in,available_in_metros"})
    for plan in plans:
        decode("Plan", plan)
        for where in plan["available_in"] + plan["available_in_metros"]:
            tf("GET", where["href"].removeprefix("/metal/v1/"))  # every href resolves
    metro = terraform["facility"].metro.code
    metros = [m for m in tf.list_all("locations/metros", "metros") if m["code"] == metro]
    assert len(metros) == 1 and decode("Metro", metros[0]).code == metro
    check = tf("POST", "capacity/metros", {"servers": [{"metro": metro, "plan": terraform["plan"].slug, "quantity": "3"}]})
    assert check["servers"][0]["available"] is True
    check = tf("POST", "capacity/metros", {"servers": [{"metro": metro, "plan": terraform["plan"].slug, "quantity": "4"}]})
    assert check["servers"][0]["available"] is False  # the provider's "not enough capacity in metro" error


@pytest.mark.timeout(300)
@pytest.mark.postgres
def test_equinix_metal_device_ip_attachment_and_device_data_source(lab_site, live_server) -> None:
    site = lab_site
    user = UserFactory(email="tf@example.com")
    accounts.organization_create(name="Acme", slug="acme-tf", owner=user)
    _, token = accounts.api_token_create(user=user, description="terraform")
    tf = requests_transport(live_server.url, token)
    project = tf("POST", "projects", {"name": "tf-devices"})
    metro = site.facility.metro.code
    # metal-go DeviceCreateInMetroInput as the provider fills it from a minimal configuration.
    created = decode("Device", tf("POST", f"projects/{project['id']}/devices", {
        "metro": metro, "plan": site.plan.slug, "operating_system": site.os.slug, "hostname": "tf-web", "billing_cycle": "hourly",
        "tags": [], "user_ssh_keys": [], "project_ssh_keys": [], "always_pxe": False, "locked": False}))
    includes = {"include": "project,metro,facility,hardware_reservation"}
    wait_until(lambda: tf("GET", f"devices/{created.id}")["state"], lambda s: s in ("active", "failed"), timeout=150)

    def read() -> dict:
        device = decode("Device", tf("GET", f"devices/{created.id}", query=includes))
        bond = [p for p in device.network_ports if p.type == "NetworkBondPort"]
        physical = [p for p in device.network_ports if p.type == "NetworkPort"]
        layer3 = bool(bond) and all(p.data.bonded for p in bond + physical) and any(a.management for a in device.ip_addresses)
        public4 = [a.address for a in device.ip_addresses if a.management and a.address_family == 4 and a.public]
        return {"project_id": device.project.id, "hostname": device.hostname, "plan": device.plan.slug, "metro": device.metro.code,
                "deployed_facility": device.facility.code, "billing_cycle": device.billing_cycle, "locked": device.locked,
                "tags": device.tags, "state": device.state, "network_type": "layer3" if layer3 else "other",
                "access_public_ipv4": public4[0] if public4 else ""}

    state = read()
    assert state["state"] == "active", Device.objects.get(pk=created.id).failure_reason
    assert (state["project_id"], state["plan"], state["metro"], state["deployed_facility"]) == (project["id"], site.plan.slug, metro,
                                                                                               site.facility.code)
    assert state["network_type"] == "layer3" and state["access_public_ipv4"] and state["billing_cycle"] == "hourly"
    assert read() == state  # plan: nothing forces a replacement
    tf("PUT", f"devices/{created.id}", {"hostname": "tf-web-2", "tags": ["x"], "description": "web"})
    assert (read()["hostname"], read()["tags"]) == ("tf-web-2", ["x"])
    # data "equinix_metal_device" { project_id, hostname }: the project's devices asked by hostname.
    found = decode("DeviceList", tf("GET", f"projects/{project['id']}/devices", query={"hostname": "tf-web-2", **includes})).devices
    assert [d.id for d in found] == [created.id]

    # equinix_metal_reserved_ip_block + equinix_metal_ip_attachment (packngo DeviceIPs).
    block = tf("POST", f"projects/{project['id']}/ips", {"type": "public_ipv4", "quantity": 2, "metro": metro})
    address = f"{ipaddress.ip_network(block['network'] + '/' + str(block['cidr']))[1]}/32"
    attached = tf("POST", f"devices/{validate_uuid(created.id)}/ips", {"address": address})
    read_back = decode("IPAssignment", tf("GET", f"ips/{validate_uuid(attached['id'])}"))
    assert base(read_back.assigned_to.href) == created.id and f"{read_back.address}/{read_back.cidr}" == address
    tf("DELETE", f"ips/{attached['id']}", ok=(204,))
    tf("DELETE", f"ips/{block['id']}", ok=(204,))

    tf("DELETE", f"devices/{created.id}", ok=(204,))
    wait_until(lambda: Device.objects.get(pk=created.id).state, lambda s: s == "deleted", timeout=120)
    tf("GET", f"devices/{created.id}", ok=(404,))
    tf("DELETE", f"projects/{project['id']}", ok=(204,))


def test_roles_are_the_providers(terraform) -> None:
    """A read-only member (Terraform with a read-only token) can plan but not apply."""
    reader = UserFactory()
    accounts.membership_set(user=reader, organization=terraform["org"], role=Role.READ_ONLY)
    _, token = accounts.api_token_create(user=reader)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=token)
    tf = django_transport(client)
    project = terraform["tf"]("POST", "projects", {"name": "shared"})
    assert project_state(tf, project["id"])["name"] == "shared"
    tf("PUT", f"projects/{project['id']}", {"name": "nope"}, ok=(403,))
