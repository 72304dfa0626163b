"""The staff installs and power API under /api/ (and only there): install runs with their timelines, and the
action registry's actions on a server — the same actions, the same checks, as the admin's buttons."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.audit.models import AuditEvent
from apps.hardware.models import ServerState
from apps.installs.models import DeviceState, Install, InstallEvent
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def _client(user, *, read_only: bool = False) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=accounts.api_token_create(user=user, read_only=read_only)[1])
    return client


@pytest.fixture
def staff(rack):
    return {"client": _client(UserFactory(is_staff=True, is_superuser=True)), **rack}


def test_install_runs_listed_filtered_and_shown_with_their_timeline(staff) -> None:
    server = staff["servers"][0]
    device = DeviceFactory(plan=staff["plan"], facility=staff["facility"], operating_system=staff["os"], server=server,
                           state=DeviceState.PROVISIONING)
    run = Install.objects.create(kind="provision", device=device, server=server, operating_system=staff["os"])
    InstallEvent.objects.create(install=run, type="provisioning.101", body="Provisioning started", created_at=timezone.now())
    Install.objects.create(kind="commissioning", server=staff["servers"][1], state="succeeded")
    client = staff["client"]
    listed = client.get("/api/installs?open=true").json()
    assert [i["id"] for i in listed["installs"]] == [str(run.pk)] and listed["meta"]["total"] == 1
    assert [i["kind"] for i in client.get(f"/api/installs?server={staff['servers'][1].serial}").json()["installs"]] == ["commissioning"]
    assert client.get(f"/api/installs?device={device.pk}&kind=provision").json()["meta"]["total"] == 1
    shown = client.get(f"/api/installs/{run.pk}").json()
    assert shown["server"]["href"] == f"/api/hardware/servers/{server.pk}" and shown["device"]["hostname"] == device.hostname
    assert [e["body"] for e in shown["timeline"]] == ["Provisioning started"] and shown["percentage"] == 5


def test_an_action_on_a_free_server_runs_through_the_registry(staff) -> None:
    server = staff["servers"][0]
    client = staff["client"]
    offered = [a["type"] for a in client.get(f"/api/hardware/servers/{server.pk}/actions").json()["actions"]]
    assert "maintenance" in offered and "reinstall" not in offered  # no device on it: the server's actions
    response = client.post(f"/api/hardware/servers/{server.pk}/actions", {"type": "maintenance", "reason": "fan"}, format="json")
    assert response.status_code == 202, response.json()
    server.refresh_from_db()
    assert server.state == ServerState.MAINTENANCE and response.json()["server"]["state"] == "maintenance"
    # No BMC on this server: refused at once, as JSON, rather than failing later in a worker.
    refused = client.post(f"/api/hardware/servers/{staff['servers'][1].pk}/actions", {"type": "power_on"}, format="json")
    assert refused.status_code == 409 and refused.json()["errors"]
    assert client.post(f"/api/hardware/servers/{server.pk}/actions", {"type": "explode"}, format="json").status_code == 422


def test_power_on_a_server_that_holds_a_device_moves_the_device(staff, django_capture_on_commit_callbacks) -> None:
    server = staff["servers"][0]
    BMCFactory(server=server)
    device = DeviceFactory(plan=staff["plan"], facility=staff["facility"], operating_system=staff["os"], server=server,
                           state=DeviceState.ACTIVE)
    with django_capture_on_commit_callbacks() as queued:
        response = staff["client"].post(f"/api/hardware/servers/{server.pk}/actions", {"type": "power_off", "reason": "rack work"},
                                        format="json")
    assert response.status_code == 202, response.json()
    device.refresh_from_db()
    assert device.state == DeviceState.POWERING_OFF and len(queued) == 1
    # The customer sees a record on their device.
    assert AuditEvent.objects.filter(action="installs.device.staff.power_off", target_id=str(device.pk)).exists()


def test_who_may(staff) -> None:
    server = staff["servers"][0]
    customer = _client(UserFactory())
    assert customer.get("/api/installs").status_code == 403
    assert customer.post(f"/api/hardware/servers/{server.pk}/actions", {"type": "maintenance"}, format="json").status_code == 403
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="change_device"))
    assert _client(viewer).get("/api/installs").status_code == 200
    # Maintenance needs hardware.change_server, which this staff member lacks.
    assert _client(viewer).post(f"/api/hardware/servers/{server.pk}/actions", {"type": "maintenance"}, format="json").status_code == 403
    read_only = _client(UserFactory(is_staff=True, is_superuser=True), read_only=True)
    assert read_only.post(f"/api/hardware/servers/{server.pk}/actions", {"type": "maintenance"}, format="json").status_code == 403
    server.refresh_from_db()
    assert server.state == ServerState.READY


def test_the_staff_routes_are_not_in_the_customer_tree(staff) -> None:
    client = staff["client"]
    assert client.get("/metal/v1/installs").status_code == 404
    assert client.get(f"/metal/v1/hardware/servers/{staff['servers'][0].pk}/actions").status_code == 404
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert {"/api/installs", "/api/installs/{id}", "/api/hardware/servers/{id}/actions"} <= set(paths)
    assert not [p for p in client.get("/metal/v1/openapi.json").json()["paths"] if "installs" in p or "hardware/servers" in p]
    # Each tree has its own browsable docs, reading its own schema.
    for docs, schema in (("/api/docs/", "/api/schema/"), ("/metal/v1/docs/", "/metal/v1/openapi.json")):
        page = client.get(docs)
        assert page.status_code == 200 and schema in page.content.decode(), docs
