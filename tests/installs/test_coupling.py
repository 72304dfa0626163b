"""Server and Device move together: a server goes back to the pool only when no device and no address
holds it; staff take a server with a live device out of service only through the service that moves
the device too (and tells its owner); addresses are never handed from one project to another; "Start
commissioning" starts the discovery boot."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.hardware.models import ServerState
from apps.hardware.services import ServerHeld, server_transition
from apps.installs.models import DeviceState, Install, InstallKind, InstallState
from apps.installs.services import orders
from apps.ipam.models import Assignment
from apps.ipam.services import server_addresses_assign, server_addresses_release
from tests.factories import ProjectFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(rack):
    """An active server holding a customer's active device and its addresses."""
    server = rack["servers"][0]
    server_transition(server=server, to=ServerState.ALLOCATED)
    server_transition(server=server, to=ServerState.PROVISIONING)
    server_transition(server=server, to=ServerState.ACTIVE)
    device = DeviceFactory(server=server, plan=rack["plan"], facility=rack["facility"], operating_system=rack["os"],
                           state=DeviceState.ACTIVE)
    server_addresses_assign(server=server, project=device.project, device_id=device.pk, device_label=device.hostname)
    return {**rack, "server": server, "device": device}


def _staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_a_held_server_cannot_go_back_to_the_pool(held):
    server = held["server"]
    server_transition(server=server, to=ServerState.MAINTENANCE, device_moved=True)  # as the coupled service does
    with pytest.raises(ServerHeld) as refused:
        server_transition(server=server, to=ServerState.READY)
    assert held["device"].hostname in str(refused.value) and "address assignment" in str(refused.value)
    server.refresh_from_db()
    assert server.state == ServerState.MAINTENANCE


def test_addresses_alone_hold_a_server(rack):
    server = rack["servers"][1]
    server_transition(server=server, to=ServerState.MAINTENANCE)
    server_addresses_assign(server=server, project=ProjectFactory())
    with pytest.raises(ServerHeld, match="address assignment"):
        server_transition(server=server, to=ServerState.READY)
    server_addresses_release(server=server)
    server_transition(server=server, to=ServerState.READY)


def test_staff_cannot_take_a_held_server_out_of_service_from_under_its_device(held, staff_user):
    client = _staff_client(staff_user)
    url = reverse("admin:hardware_server_changelist")
    page = client.post(url, {"action": "to_failed", "_selected_action": [str(held["server"].pk)]}, follow=True).content.decode()
    assert "Use the server&#x27;s Maintenance action" in page
    held["server"].refresh_from_db()
    assert held["server"].state == ServerState.ACTIVE


def test_maintenance_moves_the_device_and_tells_its_owner(held, staff_user):
    client = _staff_client(staff_user)
    url = reverse("admin:hardware_server_changelist")
    client.post(url, {"action": "maintenance", "_selected_action": [str(held["server"].pk)]}, follow=True)
    server, device = held["server"], held["device"]
    server.refresh_from_db()
    device.refresh_from_db()
    assert server.state == ServerState.MAINTENANCE
    assert device.state == DeviceState.FAILED and "maintenance" in device.failure_reason
    assert AuditEvent.objects.filter(action="installs.device.staff.maintenance", target_id=str(device.pk)).exists()
    # Still held: the device and its addresses keep the server out of the pool until the device is deleted.
    page = client.post(url, {"action": "to_ready", "_selected_action": [str(server.pk)]}, follow=True).content.decode()
    assert device.hostname in page
    server.refresh_from_db()
    assert server.state == ServerState.MAINTENANCE
    # Deleting the device wipes the server from maintenance (the table allows it now).
    install = orders.device_delete(device=device)
    assert install is not None and install.kind == InstallKind.DEPROVISION


def test_addresses_are_never_handed_to_another_project(held):
    other = ProjectFactory()
    with pytest.raises(ValidationError, match="never handed to another"):
        server_addresses_assign(server=held["server"], project=other, device_id=None)
    assert set(Assignment.objects.active().filter(server=held["server"]).values_list("project_id", flat=True)) == {
        held["device"].project_id}
    # The same device asking again (a retried step) gets its own addresses back.
    again = server_addresses_assign(server=held["server"], project=held["device"].project, device_id=held["device"].pk)
    assert len(again) == 3


def test_start_commissioning_starts_the_discovery_boot(rack, staff_user):
    server = rack["servers"][2]
    server_transition(server=server, to=ServerState.MAINTENANCE)
    client = _staff_client(staff_user)
    client.post(reverse("admin:hardware_server_changelist"), {"action": "commission", "_selected_action": [str(server.pk)]},
                follow=True)
    run = Install.objects.get(server=server)
    assert run.kind == InstallKind.COMMISSIONING and run.state in (InstallState.QUEUED, InstallState.RUNNING)
