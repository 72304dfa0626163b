"""metal-cli's calls replayed (equinix/metal-cli, the packngo commands: `metal device create/get/update/start/stop/
reboot/delete`, `metal project create/delete`, `metal ssh-key`, `metal ip request/available/assign/unassign/remove`,
`metal os/plan/metro/facilities get`, `metal event get`): the bodies packngo's structs marshal (its
DeviceCreateRequest sends `facility` as a list, `customdata` as a string holding JSON, `userdata: ""`, `tags: []`),
packngo's UUID check before any call with an id, and each answer decoded by the specification's strict models as
metal-go's commands do."""
from __future__ import annotations

import ipaddress
import json

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.installs.models import Device, DeviceState
from tests.api.terraform import ProviderError, decode, django_transport, validate_uuid
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory
from tests.installs.factories import DeviceFactory

pytest.importorskip("equinix_metal")
pytestmark = pytest.mark.django_db

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl metal-cli\n"


@pytest.fixture
def cli(rack):
    user = UserFactory(email="cli@example.com")
    accounts.organization_create(name="Acme", slug="acme-cli", owner=user)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=accounts.api_token_create(user=user, description="metal-cli")[1])
    return {"metal": django_transport(client), **rack}


def test_metal_cli_catalog_commands(cli) -> None:
    metal = cli["metal"]
    assert cli["os"].slug in [o.slug for o in decode("OperatingSystemList", metal("GET", "operating-systems")).operating_systems]
    assert cli["plan"].slug in [p.slug for p in decode("PlanList", metal("GET", "plans")).plans]
    assert cli["facility"].metro.code in [m.code for m in decode("MetroList", metal("GET", "locations/metros")).metros]
    assert cli["facility"].code in [f.code for f in decode("FacilityList", metal("GET", "facilities")).facilities]
    decode("User", metal("GET", "user"))


def test_metal_cli_project_device_ip_and_key_commands(cli) -> None:
    metal = cli["metal"]
    # metal project create --name cli
    project = decode("Project", metal("POST", "projects", {"name": "cli"}))
    # metal ssh-key create --key … --label laptop
    key = decode("SSHKey", metal("POST", "ssh-keys", {"label": "laptop", "key": KEY}))
    # metal device create --hostname cli1 --plan … --facility … --operating-system … --project-id … --customdata '{"team":"web"}' --tags a,b
    created = metal("POST", f"projects/{validate_uuid(project.id)}/devices", {
        "hostname": "cli1", "plan": cli["plan"].slug, "facility": [cli["facility"].code], "operating_system": cli["os"].slug,
        "billing_cycle": "hourly", "project_id": project.id, "userdata": "", "tags": ["a", "b"], "customdata": json.dumps({"team": "web"})})
    device = decode("Device", created)
    assert (device.hostname, device.tags, device.customdata) == ("cli1", ["a", "b"], {"team": "web"})
    assert Device.objects.get(pk=device.id).ssh_keys == [KEY]  # no key named: the owner's personal key
    # metal device get -i …
    assert decode("Device", metal("GET", f"devices/{validate_uuid(device.id)}")).id == device.id
    assert [d.id for d in decode("DeviceList", metal("GET", f"projects/{project.id}/devices")).devices] == [device.id]
    # metal device update -i … --hostname cli2 --description web --customdata '{"team":"ops"}' --locked true (packngo DeviceUpdateRequest)
    metal("PUT", f"devices/{device.id}", {"hostname": "cli2", "description": "web", "locked": True, "customdata": json.dumps({"team": "ops"})})
    updated = decode("Device", metal("GET", f"devices/{device.id}"))
    assert (updated.hostname, updated.description, updated.locked, updated.customdata) == ("cli2", "web", True, {"team": "ops"})
    # A locked device refuses delete, as the real service does; unlocked, it goes.
    with pytest.raises(ProviderError, match="422"):
        metal("DELETE", f"devices/{device.id}")
    metal("PUT", f"devices/{device.id}", {"locked": False})
    with pytest.raises(ProviderError, match="422"):
        metal("PUT", f"devices/{device.id}", {"customdata": "not json"})  # a string that holds no JSON object

    # metal ip request -p … -t public_ipv4 -q 4 -m …; available; assign; unassign; remove
    block = decode("IPReservation", metal("POST", f"projects/{project.id}/ips", {
        "type": "public_ipv4", "quantity": 4, "metro": cli["facility"].metro.code, "tags": ["cli"]}))
    available = metal("GET", f"ips/{validate_uuid(block.id)}/available", query={"cidr": "32"})["available"]
    network = ipaddress.ip_network(f"{block.network}/{block.cidr}")
    assert f"{network[0]}/32" in available and len(available) == 4
    held = DeviceFactory(project_id=project.id, plan=cli["plan"], facility=cli["facility"], operating_system=cli["os"],
                         server=cli["servers"][0], state=DeviceState.ACTIVE)
    assigned = decode("IPAssignment", metal("POST", f"devices/{validate_uuid(str(held.pk))}/ips", {"address": f"{network[1]}/32"}))
    assert assigned.assigned_to.href.endswith(str(held.pk))
    metal("DELETE", f"ips/{validate_uuid(assigned.id)}", ok=(204,))
    metal("DELETE", f"ips/{block.id}", ok=(204,))

    # metal device stop / start / reboot -i … (packngo DeviceActionRequest {"type": …})
    BMCFactory(server=cli["servers"][0])
    metal("POST", f"devices/{held.pk}/actions", {"type": "power_off"}, ok=(202,))
    held.refresh_from_db()
    assert held.state == DeviceState.POWERING_OFF
    with pytest.raises(ProviderError, match="409"):
        metal("POST", f"devices/{held.pk}/actions", {"type": "reboot"})  # not active: the state machine says no

    # metal event get (the project's history, read as sentences)
    events = decode("EventList", metal("GET", f"projects/{project.id}/events")).events
    assert any("cli2" in (e.interpolated or "") for e in events), [e.interpolated for e in events]

    # metal device delete -i …; metal ssh-key delete -i …; metal project delete -i …
    metal("DELETE", f"devices/{device.id}", ok=(204,))
    held.delete()
    metal("DELETE", f"ssh-keys/{validate_uuid(key.id)}", ok=(204,))
    metal("DELETE", f"projects/{project.id}", ok=(204,))
    metal("GET", f"projects/{project.id}", ok=(404,))
