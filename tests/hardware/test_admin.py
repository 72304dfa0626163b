"""Hardware admin: searches (serial, MAC in any spelling, hostname), filters, readable detail pages,
bulk state actions through the transition service, and the CSV upload."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.hardware.models import BMC, Server, ServerState
from tests.hardware.factories import BMCFactory, NetworkInterfaceFactory, ServerFactory, SwitchFactory
from tests.hardware.test_onboarding import csv_text, line
from tests.hardware.test_onboarding import site as site  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def test_server_search_by_serial_and_mac(staff):
    nic = NetworkInterfaceFactory(mac="0c:c4:7a:33:44:55", server__serial="FIND-ME")
    ServerFactory(serial="OTHER")
    url = reverse("admin:hardware_server_changelist")
    for term in ("FIND-ME", "0C-C4-7A-33-44-55", "0cc4.7a33.4455", "7a:33:44"):
        page = staff.get(url, {"q": term})
        assert page.status_code == 200 and b"FIND-ME" in page.content and b"OTHER" not in page.content, term
    page = staff.get(url, {"state__exact": "ready", "facility__id__exact": nic.server.facility_id})
    assert b"FIND-ME" in page.content and b"OTHER" not in page.content


def test_switch_search_by_hostname(staff):
    SwitchFactory(hostname="da11-r01-sw1")
    SwitchFactory(hostname="ny5-r02-sw2")
    page = staff.get(reverse("admin:hardware_switch_changelist"), {"q": "da11-r01"})
    assert b"da11-r01-sw1" in page.content and b"ny5-r02-sw2" not in page.content


def test_server_detail_page_never_shows_the_bmc_password(staff):
    bmc = BMCFactory(password="very-secret-pw")
    NetworkInterfaceFactory(server=bmc.server, name="eth0")
    page = staff.get(reverse("admin:hardware_server_change", args=[bmc.server.pk]))
    assert page.status_code == 200 and b"eth0" in page.content and b"very-secret-pw" not in page.content


def test_server_edit_keeps_bmc_password_when_left_empty(staff):
    bmc = BMCFactory(password="keep-me", server__rack=None)
    server = bmc.server
    data = {"serial": server.serial, "asset_tag": "NEW-TAG", "plan": server.plan_id, "facility": server.facility_id, "rack": "",
            "position_u": "", "height_u": 1,
            "bmc-TOTAL_FORMS": 1, "bmc-INITIAL_FORMS": 1, "bmc-MIN_NUM_FORMS": 0, "bmc-MAX_NUM_FORMS": 1,
            "bmc-0-id": bmc.pk, "bmc-0-server": server.pk, "bmc-0-protocol": "ipmi", "bmc-0-host": "10.1.1.1", "bmc-0-port": 623,
            "bmc-0-username": "admin", "bmc-0-password": "", "bmc-0-cert_fingerprint": "",
            "interfaces-TOTAL_FORMS": 0, "interfaces-INITIAL_FORMS": 0, "interfaces-MIN_NUM_FORMS": 0, "interfaces-MAX_NUM_FORMS": 1000,
            "findings-TOTAL_FORMS": 0, "findings-INITIAL_FORMS": 0, "findings-MIN_NUM_FORMS": 0, "findings-MAX_NUM_FORMS": 1000}
    page = staff.post(reverse("admin:hardware_server_change", args=[server.pk]), data)
    assert page.status_code == 302, page.content.decode()[:3000]
    bmc = BMC.objects.get(pk=bmc.pk)
    assert bmc.password == "keep-me" and bmc.host == "10.1.1.1"
    assert Server.objects.get(pk=server.pk).asset_tag == "NEW-TAG"


def test_bulk_state_action_goes_through_transitions(staff):
    ok = ServerFactory(state=ServerState.READY, serial="OK1")
    busy = ServerFactory(state=ServerState.ACTIVE, serial="BUSY1")
    failed = ServerFactory(state=ServerState.FAILED, serial="DEAD1")
    page = staff.post(reverse("admin:hardware_server_changelist"),
                      {"action": "maintenance", "_selected_action": [ok.pk, busy.pk, failed.pk]}, follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Put in maintenance: requested for 3 server(s)" in text
    assert {s.state for s in Server.objects.all()} == {ServerState.MAINTENANCE}
    assert AuditEvent.objects.filter(action="hardware.server.transition").count() == 3
    page = staff.post(reverse("admin:hardware_server_changelist"),
                      {"action": "to_allocated", "_selected_action": [ok.pk]}, follow=True)
    assert Server.objects.get(pk=ok.pk).state == ServerState.MAINTENANCE  # no such action: nothing moves
    page = staff.post(reverse("admin:hardware_server_changelist"), {"action": "to_failed", "_selected_action": [ok.pk]}, follow=True)
    page = staff.post(reverse("admin:hardware_server_changelist"), {"action": "to_ready", "_selected_action": [ok.pk]}, follow=True)
    assert "OK1: server OK1 cannot go from &#x27;failed&#x27; to &#x27;ready&#x27;" in page.content.decode()


def test_csv_upload(staff, site):  # noqa: F811
    url = reverse("admin:hardware_server_import")
    assert staff.get(reverse("admin:hardware_server_changelist")).content.count(url.encode()) == 1
    bad = SimpleUploadedFile("rack.csv", csv_text(line(1), line(2, plan="nope")).encode())
    page = staff.post(url, {"file": bad})
    assert page.status_code == 422 and b"There is no plan" in page.content and b"<td>3</td>" in page.content
    assert not Server.objects.exists()
    good = SimpleUploadedFile("rack.csv", csv_text(line(1), line(2)).encode())
    page = staff.post(url, {"file": good}, follow=True)
    assert b"2 server(s) were created" in page.content
    assert Server.objects.count() == 2
    assert AuditEvent.objects.get(action="hardware.server.import").actor_name == "user" + AuditEvent.objects.get(
        action="hardware.server.import").actor_name[4:]


def test_every_hardware_admin_list_renders(staff):
    BMCFactory()
    for name in ("plan", "server", "networkinterface", "switch", "switchport", "cable", "commissioningfinding"):
        assert staff.get(reverse(f"admin:hardware_{name}_changelist")).status_code == 200, name


def test_only_out_of_service_servers_can_be_deleted(staff):
    busy = ServerFactory(state=ServerState.READY)
    broken = ServerFactory(state=ServerState.FAILED)
    assert staff.get(reverse("admin:hardware_server_delete", args=[busy.pk])).status_code == 403
    url = reverse("admin:hardware_server_changelist")
    refused = staff.post(url, {"action": "delete_selected", "_selected_action": [busy.pk, broken.pk], "post": "yes"})
    assert refused.status_code == 403 and Server.objects.count() == 2  # a busy server in the selection refuses the lot
    page = staff.post(url, {"action": "delete_selected", "_selected_action": [broken.pk], "post": "yes"}, follow=True)
    assert page.status_code == 200
    assert list(Server.objects.values_list("pk", flat=True)) == [busy.pk]
    assert AuditEvent.objects.filter(action="hardware.server.delete", target_id=str(broken.pk)).exists()
