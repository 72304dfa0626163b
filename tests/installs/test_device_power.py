"""Customer power actions (power off, power on, reboot) go over real IPMI to a lab BMC and settle
the device's state; a BMC that does not answer puts the device back, with the reason on record."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.hardware.models import BMC
from apps.installs.models import DeviceState
from tests.factories import UserFactory
from tests.hardware.factories import ServerFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)

USER, PASSWORD = "admin", "lab-secret"


@pytest.fixture
def ipmi():
    from apps.lab.bmc import IpmiLabProcess

    lab = IpmiLabProcess()
    yield lab
    lab.stop()


@pytest.fixture
def powered(ipmi, settings):
    settings.BMC_ATTEMPTS = 2
    settings.BMC_BACKOFF = 0.05
    settings.BMC_TIMEOUT = 2.0
    server = ServerFactory(state="active")
    port = ipmi.add(name="bmc-power", username=USER, password=PASSWORD, server_id=str(server.pk), power="on")
    BMC.objects.create(server=server, protocol="ipmi", host="127.0.0.1", port=port, username=USER, password=PASSWORD)
    device = DeviceFactory(server=server, plan=server.plan, facility=server.facility, state=DeviceState.ACTIVE)
    owner = UserFactory()
    accounts.membership_set(user=owner, project=device.project, role=Role.COLLABORATOR)
    client = APIClient()
    client.force_authenticate(owner)
    return {"device": device, "port": port, "client": client, "ipmi": ipmi}


def act(site, action: str):  # noqa: ANN201
    return site["client"].post(f"/metal/v1/devices/{site['device'].pk}/actions", {"type": action}, format="json")


def test_power_off_then_on_over_ipmi(powered):
    assert act(powered, "power_off").status_code == 202
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.INACTIVE
    assert powered["ipmi"].state(powered["port"])["power"] == "off"
    assert act(powered, "power_on").status_code == 202
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.ACTIVE
    assert powered["ipmi"].state(powered["port"])["power"] == "on"
    moves = list(AuditEvent.objects.filter(action="installs.device.transition", target_id=str(powered["device"].pk))
                 .order_by("id").values_list("changes", flat=True))
    assert [m["state"] for m in moves] == [["active", "powering_off"], ["powering_off", "inactive"],
                                           ["inactive", "powering_on"], ["powering_on", "active"]]


def test_reboot_keeps_the_device_active(powered):
    assert act(powered, "reboot").status_code == 202
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.ACTIVE
    assert AuditEvent.objects.filter(action="installs.device.reboot", target_id=str(powered["device"].pk)).exists()


def test_wrong_state_is_409(powered):
    response = act(powered, "power_on")
    assert response.status_code == 409
    assert "power on needs it inactive" in response.json()["errors"][0]


def test_silent_bmc_puts_the_device_back_with_the_reason(powered):
    powered["ipmi"].set_mode(powered["port"], "silent")
    assert act(powered, "power_off").status_code == 202
    powered["device"].refresh_from_db()
    assert powered["device"].state == DeviceState.ACTIVE
    last = AuditEvent.objects.filter(action="installs.device.transition", target_id=str(powered["device"].pk)).order_by("-id").first()
    assert last.changes["state"] == ["powering_off", "active"]
    assert last.reason.startswith("power_off failed")


def test_reboot_of_a_powered_off_device_is_409(powered):
    assert act(powered, "power_off").status_code == 202
    response = act(powered, "reboot")
    assert response.status_code == 409 and "needs it active" in response.json()["errors"][0]
