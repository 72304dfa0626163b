"""SOS end to end: Debian's OpenSSH client (batch mode, test keys) → the SOS listener (its own process, asyncssh)
→ pyghmi's SOL client → the lab's IPMI BMC → the machine's serial console. The key rule decides who gets in;
one person types, the others read and are told who types; `~.` leaves; every session is recorded."""
from __future__ import annotations

import shutil

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.console.models import ConsoleSession
from apps.console.services import scrollback_read
from apps.installs.api.serializers import DeviceOut
from apps.installs.models import DeviceState
from apps.installs.services import orders
from project.public_ids import public_id
from tests.console.sos_process import SosProcess, SshClient, make_key
from tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from tests.installs.lab_site import wait_for
from tests.portal.browser import browse, chromium, sign_in  # noqa: F401 - fixtures

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres,
              pytest.mark.skipif(shutil.which("ssh") is None, reason="needs Debian's openssh-client")]


@pytest.fixture
def people(lab_site, tmp_path):
    organization = OrganizationFactory()
    project = ProjectFactory(organization=organization)
    owner, second, reader, stranger = (UserFactory() for _ in range(4))
    accounts.membership_set(user=owner, organization=organization, role=Role.OWNER)
    accounts.membership_set(user=second, project=project, role=Role.COLLABORATOR)
    accounts.membership_set(user=reader, project=project, role=Role.READ_ONLY)
    keys = {}
    for name, user in (("owner", owner), ("second", second), ("reader", reader), ("stranger", stranger)):
        path, public = make_key(tmp_path, name)
        accounts.ssh_key_create(label=name, key=public, owner=user)
        keys[name] = path
    keys["unknown"] = make_key(tmp_path, "unknown")[0]
    # The reader's key is named in the order, so it is on the device: SOS still refuses it (read-only now).
    device = orders.device_create(project=project, hostname="sos1", plan=lab_site.plan, facility=lab_site.facility,
                                  operating_system=lab_site.os, user_ssh_keys=[public_id("user", u.pk) for u in (owner, second, reader)])
    assert wait_for(lambda: device.refresh_from_db() or device.state in (DeviceState.ACTIVE, DeviceState.FAILED), timeout=90)
    assert device.state == DeviceState.ACTIVE, device.failure_reason
    return {"device": device, "keys": keys, "owner": owner, "second": second}


@pytest.fixture
def sos(tmp_path, transactional_db):
    listener = SosProcess(tmp_path)
    try:
        yield listener
    finally:
        listener.stop()


def test_openssh_reaches_the_serial_console_through_sos_and_the_lab_bmc(lab_site, people, sos) -> None:
    device, keys = people["device"], people["keys"]
    prompt = f"bmc-{device.server.serial} login: ".encode()
    assert DeviceOut(device).data["sos"] == f"{device.pk}@sos.{lab_site.facility.code}.metalyard.localhost"

    typing = SshClient(key=keys["owner"], port=sos.port, user=str(device.pk))
    second = None
    try:
        assert typing.wait_for(b"you are typing", stderr=True), bytes(typing.err)
        typing.type(b"hello metalyard\r")
        assert typing.wait_for(b"hello metalyard\r\n" + prompt), (bytes(typing.out), bytes(typing.err))

        # A second writer is told who holds the keyboard, and reads what the machine prints.
        second = SshClient(key=keys["second"], port=sos.port, user=str(device.pk))
        assert second.wait_for(f"the keyboard is held by {people['owner'].email} (from 127.0.0.1".encode(), stderr=True), bytes(second.err)
        second.type(b"ignored\r")
        typing.type(b"again\r")
        assert second.wait_for(b"again\r\n" + prompt), bytes(second.out)
        assert b"ignored" not in bytes(typing.out) and b"ignored" not in bytes(second.out)

        # Keys that are not allowed: unknown, another tenant's, a read-only member's (on the device, but read-only now).
        for name in ("unknown", "stranger", "reader"):
            refused = SshClient(key=keys[name], port=sos.port, user=str(device.pk))
            assert refused.wait(timeout=30) == 255, name
            assert b"Permission denied (publickey)" in bytes(refused.err), (name, bytes(refused.err))

        # ~. at the start of a line leaves.
        typing.type(b"~.")
        assert typing.wait(timeout=20) == 0, bytes(typing.err)
        second.type(b"\r~.")
        assert second.wait(timeout=20) == 0
    finally:
        typing.stop()
        if second is not None:
            second.stop()

    def recorded():
        return list(ConsoleSession.objects.filter(device=device, ended_at__isnull=False).order_by("started_at"))
    sessions = wait_for(lambda: len(recorded()) == 2 and recorded(), timeout=20)
    assert sessions, list(ConsoleSession.objects.filter(device=device).values())
    first, other = sessions
    assert (first.user, first.writer, first.source_address, first.face) == (people["owner"], True, "127.0.0.1", "ssh")
    assert (other.user, other.writer) == (people["second"], False)
    assert first.end_reason == "~." and first.duration_seconds > 0 and first.bytes_typed == len(b"hello metalyard\ragain\r")
    assert b"hello metalyard" in scrollback_read(device_id=device.pk)
    audited = list(AuditEvent.objects.filter(target_id=str(device.pk), action__startswith="console.").values_list("action", flat=True))
    assert sorted(audited) == ["console.session.close"] * 2 + ["console.session.open"] * 2


def test_a_bmc_whose_sol_is_disabled_gives_the_ssh_user_a_one_line_reason(lab_site, people, sos) -> None:
    device = people["device"]
    lab_site.ipmi.set_mode(lab_site.bmc_ports[device.server_id], "no_sol")
    client = SshClient(key=people["keys"]["owner"], port=sos.port, user=str(device.pk))
    try:
        assert client.wait(timeout=60) == 1
        assert b"sos1: Serial-over-LAN is disabled on the BMC" in bytes(client.err), bytes(client.err)
    finally:
        client.stop()


def test_the_console_tab_shows_the_same_output_in_a_browser(lab_site, people, sos, live_server, browse) -> None:  # noqa: F811
    device = people["device"]
    typing = SshClient(key=people["keys"]["owner"], port=sos.port, user=str(device.pk))
    try:
        assert typing.wait_for(b"you are typing", stderr=True), bytes(typing.err)
        typing.type(b"seen in the browser\r")
        assert typing.wait_for(b"seen in the browser\r\n")
        person = browse()
        sign_in(person, live_server.url, people["owner"].username, "pw-for-tests-only")
        page = person.page
        page.goto(f"{live_server.url}/devices/{device.pk}/")
        page.get_by_role("link", name="Console").click()
        page.wait_for_url(f"{live_server.url}/devices/{device.pk}/console/")
        screen = '[data-testid="console-screen"]'
        page.wait_for_selector(f'{screen}:has-text("seen in the browser")', timeout=15_000)
        assert f"{device.pk}@sos." in page.locator('[data-testid="sos-command"]').inner_text()
        # Live: what is typed over SOS now appears in the open page without a reload.
        typing.type(b"and live\r")
        page.wait_for_selector(f'{screen}:has-text("and live")', timeout=15_000)
        person.shot("console-tab")
        person.check_accessibility()
        typing.type(b"~.")
        assert typing.wait(timeout=20) == 0
    finally:
        typing.stop()


def test_a_session_ends_when_its_person_is_made_read_only(lab_site, people, tmp_path, transactional_db) -> None:
    """Checked again while open, not only at sign-in: demoting the person ends their SSH session with the reason."""
    device, keys = people["device"], people["keys"]
    listener = SosProcess(tmp_path, extra_env={"METALYARD_CONSOLE_RECHECK_SECONDS": "1"})
    session = SshClient(key=keys["second"], port=listener.port, user=str(device.pk))
    try:
        assert session.wait_for(b"you are typing", stderr=True), bytes(session.err)
        accounts.membership_set(user=people["second"], project=device.project, role=Role.READ_ONLY)
        assert session.wait(timeout=30) == 1, bytes(session.err)
        assert b"your access to this console ended" in bytes(session.err)
    finally:
        session.stop()
        listener.stop()
    ended = wait_for(lambda: ConsoleSession.objects.filter(device=device, ended_at__isnull=False).first(), timeout=20)
    assert ended and ended.user == people["second"] and "access to this console ended" in ended.end_reason
