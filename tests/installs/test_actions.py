"""The action registry drives every face: the API's action types, the portal's buttons and the
admin's actions come from it, and staff "power off" is the customer's action with staff permission —
on a server that holds a live device it moves the device too, and the customer sees a record of it."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.installs import actions
from apps.installs.api.serializers import DeviceActionIn
from apps.installs.models import Device, DeviceState
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory, ServerFactory
from tests.installs.factories import DeviceFactory
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture
def powered(ipmi_lab, settings):  # noqa: F811
    settings.BMC_ATTEMPTS, settings.BMC_BACKOFF, settings.BMC_TIMEOUT = 2, 0.05, 2.0
    server = ServerFactory(state="active")
    port = ipmi_lab.add(name=f"act-{server.serial}", username=USERNAME, password=PASSWORD, server_id=str(server.pk), power="on")
    BMCFactory(server=server, host="127.0.0.1", port=port, username=USERNAME, password=PASSWORD)
    device = DeviceFactory(server=server, plan=server.plan, facility=server.facility, state=DeviceState.ACTIVE)
    owner, reader = UserFactory(), UserFactory()
    accounts.membership_set(user=owner, project=device.project, role=Role.COLLABORATOR)
    accounts.membership_set(user=reader, project=device.project, role=Role.READ_ONLY)
    return {"server": server, "device": device, "port": port, "owner": owner, "reader": reader, "lab": ipmi_lab}


def test_the_api_action_types_are_the_registry_s():
    assert sorted(DeviceActionIn().fields["type"].choices) == sorted(actions.api_action_names())
    assert set(actions.api_action_names()) == {"power_on", "power_off", "reboot", "reinstall", "rescue"}


def test_allowed_states_are_read_from_the_device_transition_table():
    assert actions.ACTIONS["power_off"].device_states == {DeviceState.ACTIVE}
    assert actions.ACTIONS["power_on"].device_states == {DeviceState.INACTIVE}
    assert actions.ACTIONS["reinstall"].device_states == {DeviceState.ACTIVE, DeviceState.INACTIVE, DeviceState.FAILED, DeviceState.RESCUE}
    assert actions.ACTIONS["rescue"].device_states == {DeviceState.ACTIVE, DeviceState.INACTIVE}


def test_portal_buttons_follow_state_and_role(powered):
    client = Client()
    client.force_login(powered["owner"])
    page = client.get(f"/devices/{powered['device'].pk}/").content.decode()
    assert "Power off" in page and "Reboot" in page and "Reinstall" in page and "Delete" in page
    assert "Power on" not in page and "Next boot" not in page  # wrong state; staff only
    client.force_login(powered["reader"])
    page = client.get(f"/devices/{powered['device'].pk}/").content.decode()
    assert "<button>" not in page


def test_portal_power_off_and_on_go_over_ipmi(powered, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(powered["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/devices/{powered['device'].pk}/power_off/", follow=True)
    assert "Power off requested" in response.content.decode()
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.INACTIVE
    assert powered["lab"].state(powered["port"])["power"] == "off"
    page = client.get(f"/devices/{powered['device'].pk}/").content.decode()
    assert "Power on" in page and "Power off" not in page
    # A request in the wrong state is refused with the registry's message, not a 500.
    response = client.post(f"/devices/{powered['device'].pk}/reboot/", follow=True)
    assert "reboot needs it active" in response.content.decode()


def test_a_read_only_member_is_refused_in_every_face(powered):
    client = Client()
    client.force_login(powered["reader"])
    response = client.post(f"/devices/{powered['device'].pk}/power_off/", follow=True)
    assert "collaborator" in response.content.decode()
    api = APIClient()
    api.force_authenticate(powered["reader"])
    assert api.post(f"/metal/v1/devices/{powered['device'].pk}/actions", {"type": "power_off"}, format="json").status_code == 403
    assert api.delete(f"/metal/v1/devices/{powered['device'].pk}").status_code == 403
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.ACTIVE


def test_staff_power_off_of_a_server_moves_its_customer_s_device(powered, staff_user, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:hardware_server_changelist"),
                               {"action": "power_off", "_selected_action": [str(powered["server"].pk)]}, follow=True)
    assert "requested for 1 server(s)" in response.content.decode()
    device = powered["device"]
    device.refresh_from_db()
    assert device.state == DeviceState.INACTIVE  # not left "active" while the machine is off
    assert powered["lab"].state(powered["port"])["power"] == "off"
    told = AuditEvent.objects.get(action="installs.device.staff.power_off", target_id=str(device.pk))
    assert told.actor_id == str(staff_user.pk)


def test_staff_power_of_a_free_server_needs_no_device(ipmi_lab, staff_user, django_capture_on_commit_callbacks):  # noqa: F811
    server = ServerFactory(state="maintenance")
    port = ipmi_lab.add(name=f"free-{server.serial}", username=USERNAME, password=PASSWORD, server_id=str(server.pk), power="off")
    BMCFactory(server=server, host="127.0.0.1", port=port, username=USERNAME, password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        actions.perform("power_on", server=server, actor=staff_user, staff=True)
    assert ipmi_lab.state(port)["power"] == "on"


def test_a_customer_cannot_run_a_staff_only_action(powered):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        actions.perform("boot_network", device=powered["device"], actor=powered["owner"])


def test_the_device_admin_has_no_raw_delete(powered, staff_user):
    client = Client()
    client.force_login(staff_user)
    url = reverse("admin:installs_device_changelist")
    page = client.get(url).content.decode()
    assert 'value="delete_selected"' not in page and 'value="delete"' in page
    assert client.get(reverse("admin:installs_device_delete", args=[powered["device"].pk])).status_code == 403
    client.post(url, {"action": "delete_selected", "_selected_action": [str(powered["device"].pk)], "post": "yes"})
    assert Device.objects.filter(pk=powered["device"].pk).exists()
    client.post(url, {"action": "delete", "_selected_action": [str(powered["device"].pk)]})
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.DEPROVISIONING
    assert AuditEvent.objects.filter(action="installs.device.staff.delete", target_id=str(powered["device"].pk)).exists()
