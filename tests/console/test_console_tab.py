"""The console tab of a device's page: the SOS command, the scrollback (control sequences dropped) and who used
the console; the same permission as SOS (read-only members are refused, other tenants get 404)."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.console.models import ConsoleFace
from apps.console.services import ConsoleAccess, console_session_close, console_session_open, scrollback_append
from tests.factories import UserFactory
from tests.installs.factories import DeviceFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def device():
    from tests.hardware.factories import ServerFactory

    server = ServerFactory(state="active")
    device = DeviceFactory(server=server, plan=server.plan, facility=server.facility, state="active", hostname="web1")
    scrollback_append(device_id=device.pk, data=b"\x1b[1mBooting\x1b[0m kernel\r\nweb1 login: ")
    return device


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_collaborator_sees_the_sos_command_the_output_and_who_used_it(device, settings) -> None:
    owner = UserFactory()
    accounts.membership_set(user=owner, project=device.project, role=Role.COLLABORATOR)
    access = ConsoleAccess(device_id=device.pk, hostname=device.hostname, facility="", user_id=owner.pk, label=owner.email)
    session = console_session_open(access=access, face=ConsoleFace.SSH, source_address="192.0.2.7", writer=True)
    console_session_close(session_id=session.pk, reason="~.", typed=12, shown=40)
    page = _client(owner).get(f"/devices/{device.pk}/console/").content.decode()
    assert f"{device.pk}@sos." in page and "Booting kernel\nweb1 login: " in page and "\x1b" not in page
    assert owner.email in page and "192.0.2.7" in page and "12 bytes" in page
    overview = _client(owner).get(f"/devices/{device.pk}/").content.decode()
    assert f'href="/devices/{device.pk}/console/"' in overview  # the tab, beside the overview's
    fragment = _client(owner).get(f"/devices/{device.pk}/console/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith("<pre") and "web1 login:" in fragment


def test_a_read_only_member_is_refused_and_another_tenant_gets_404(device) -> None:
    reader = UserFactory()
    accounts.membership_set(user=reader, project=device.project, role=Role.READ_ONLY)
    refused = _client(reader).get(f"/devices/{device.pk}/console/")
    assert refused.status_code == 403 and "web1 login" not in refused.content.decode()
    assert _client(UserFactory()).get(f"/devices/{device.pk}/console/").status_code == 404


def test_staff_read_the_sessions_and_the_scrollback_in_the_admin(device, admin_client) -> None:
    access = ConsoleAccess(device_id=device.pk, hostname=device.hostname, facility="", user_id=None, label="project key 'ci'")
    console_session_open(access=access, face=ConsoleFace.SSH, source_address="198.51.100.4", writer=False)
    assert "198.51.100.4" in admin_client.get("/admin/console/consolesession/").content.decode()
    row = device.console_scrollback
    page = admin_client.get(f"/admin/console/consolescrollback/{row.pk}/change/").content.decode()
    assert "web1 login:" in page
