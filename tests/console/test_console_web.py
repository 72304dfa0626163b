"""The browser console's websocket (apps.console.web) through its real ASGI stack (apps.console.asgi: origin
check, session cookie, URL routing) with asgiref's ApplicationCommunicator (what channels' WebsocketCommunicator
is, less its package's import of daphne, which this project does not use), against a lab IPMI BMC serving SOL:
who may connect (a collaborator; not a read-only member, another tenant, an anonymous or cross-site request),
one writer and the others told who holds the keyboard, and the session rows and audit events it leaves."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.console.asgi import application
from apps.console.models import ConsoleSession
from apps.console.web import ACCESS_LOST, shared_hub
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory, ServerFactory
from tests.installs.factories import DeviceFactory
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120)]
SITE = b"http://127.0.0.1:8000"


def sol_device(ipmi_lab: Any, name: str) -> Any:  # noqa: F811
    """An active device whose server's BMC is a lab IPMI BMC with SOL (the lab's serial peer, no QEMU)."""
    port = ipmi_lab.add(name=name, username=USERNAME, password=PASSWORD, power="on")
    server = ServerFactory(state="active")
    BMCFactory(server=server, host="127.0.0.1", port=port, username=USERNAME, password=PASSWORD)
    return DeviceFactory(server=server, plan=server.plan, facility=server.facility, state="active", hostname=name)


def member(device: Any, role: str | None) -> Any:
    user = UserFactory()
    if role is not None:
        accounts.membership_set(user=user, project=device.project, role=role)
    return user


def signed_in(user: Any) -> bytes:
    """The session cookie of `user` signed in on the site (made before the event loop: the ORM is sync)."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def from_address(address: str) -> Any:
    """The ASGI app as a server hands it a connection from `address` (WebsocketCommunicator sets no client)."""
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await application({**scope, "client": (address, 50000)}, receive, send)
    return app


class WebsocketCommunicator(ApplicationCommunicator):
    """The websocket side of ApplicationCommunicator, as channels.testing.WebsocketCommunicator has it."""

    def __init__(self, app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        route, _, query = path.partition("?")
        super().__init__(app, {"type": "websocket", "path": route, "query_string": query.encode(), "headers": headers,
                               "subprotocols": []})

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept", response
        return True, response.get("subprotocol")

    async def send_to(self, *, bytes_data: bytes) -> None:
        await self.send_input({"type": "websocket.receive", "bytes": bytes_data})

    async def disconnect(self, code: int = 1000, timeout: float = 10) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


class Browser:
    """One websocket, as the page's script uses it: terminal bytes and JSON notices."""

    def __init__(self, device: Any, cookie: bytes | None, *, origin: bytes | None = SITE, query: str = "",
                 address: str = "198.51.100.7") -> None:
        path = f"/ws/devices/{device.pk}/console/" + (f"?{query}" if query else "")
        headers = [(b"origin", origin)] if origin is not None else []
        headers += [(b"cookie", cookie)] if cookie is not None else []
        self.socket = WebsocketCommunicator(from_address(address), path, headers=headers)
        self.screen = bytearray()
        self.notices: list[dict] = []
        self.closed: int | None = None

    async def read_until(self, done: Any, timeout: float = 15.0) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(self) and self.closed is None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                message = await self.socket.receive_output(timeout=left)
            except TimeoutError:
                break
            if message["type"] == "websocket.close":
                self.closed = message.get("code", 1000)
            elif message.get("bytes") is not None:
                self.screen += message["bytes"]
            else:
                self.notices.append(json.loads(message["text"]))
        return bool(done(self))

    def said(self, text: str) -> bool:
        return any(text in (notice.get("text") or notice.get("reason") or "") for notice in self.notices)


def run(body: Any) -> None:
    async_to_sync(body)()


def test_only_a_signed_in_same_site_collaborator_gets_the_console(ipmi_lab, transactional_db) -> None:  # noqa: F811
    device = sol_device(ipmi_lab, "ws-refuse")
    other = sol_device(ipmi_lab, "ws-other")  # another project's device: 404, as a device that does not exist
    owner, reader, stranger = (signed_in(member(device, role)) for role in (Role.COLLABORATOR, Role.READ_ONLY, None))

    async def body() -> None:
        for cookie, origin, expected in ((None, SITE, 4401), (reader, SITE, 4403), (stranger, SITE, 4404),
                                         (owner, b"https://evil.example", 1000), (owner, None, 1000)):
            # A cross-site page (or a client that names no origin) is refused before the session is even read.
            browser = Browser(device, cookie, origin=origin)
            assert await browser.socket.connect(timeout=10) == (False, expected), (cookie, origin)
        assert await Browser(other, owner).socket.connect(timeout=10) == (False, 4404)

    run(body)
    assert not ConsoleSession.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="console.").exists()


def test_one_types_the_others_read_and_every_session_is_audited(ipmi_lab, transactional_db) -> None:  # noqa: F811
    device = sol_device(ipmi_lab, "ws-share")
    owner, second = member(device, Role.OWNER), member(device, Role.COLLABORATOR)
    owner_cookie, second_cookie = signed_in(owner), signed_in(second)
    prompt = b"ws-share login: "

    async def body() -> None:
        typing = Browser(device, owner_cookie)
        assert (await typing.socket.connect(timeout=20))[0]
        assert await typing.read_until(lambda b: b.notices), typing.notices
        assert typing.notices[0] == {"type": "status", "keyboard": True, "text": "ws-share: you are typing"}
        await typing.socket.send_to(bytes_data=b"hello web\r")
        assert await typing.read_until(lambda b: b"hello web\r\n" + prompt in b.screen), bytes(typing.screen)

        # A second writer is told who holds the keyboard; it reads (the earlier output first) but cannot type.
        second_browser = Browser(device, second_cookie, address="203.0.113.5")
        assert (await second_browser.socket.connect(timeout=20))[0]
        assert await second_browser.read_until(lambda b: b.notices)
        status = second_browser.notices[0]
        assert status["keyboard"] is False and f"the keyboard is held by {owner.email} (from 198.51.100.7" in status["text"], status
        await second_browser.socket.send_to(bytes_data=b"ignored\r")
        await typing.socket.send_to(bytes_data=b"again\r")
        assert await second_browser.read_until(lambda b: b"again\r\n" + prompt in b.screen), bytes(second_browser.screen)
        assert second_browser.screen.count(b"hello web") == 1  # what was printed before it came, once
        assert await typing.read_until(lambda b: b"again\r\n" + prompt in b.screen)
        assert b"ignored" not in typing.screen + second_browser.screen

        reading = Browser(device, second_cookie, query="mode=read")
        assert (await reading.socket.connect(timeout=20))[0]
        assert await reading.read_until(lambda b: b.notices) and reading.notices[0]["text"] == "ws-share: reading"
        for browser in (reading, second_browser, typing):
            await browser.socket.disconnect()
        # The last one out closed the BMC's console: the next person opens it again.
        assert not shared_hub().consoles

    run(body)
    sessions = list(ConsoleSession.objects.filter(device=device).order_by("started_at"))
    assert [(s.user, s.face, s.writer, s.source_address) for s in sessions] == [
        (owner, "browser", True, "198.51.100.7"), (second, "browser", False, "203.0.113.5"), (second, "browser", False, "198.51.100.7")]
    assert all(s.ended_at is not None and s.end_reason == "browser closed (1000)" for s in sessions)
    assert sessions[0].bytes_typed == len(b"hello web\ragain\r") and sessions[1].bytes_typed == 0
    audited = sorted(AuditEvent.objects.filter(target_id=str(device.pk), action__startswith="console.").values_list("action", flat=True))
    assert audited == ["console.session.close"] * 3 + ["console.session.open"] * 3


def test_a_console_that_cannot_open_says_why_and_leaves_no_open_session(ipmi_lab, transactional_db) -> None:  # noqa: F811
    device = sol_device(ipmi_lab, "ws-nosol")
    ipmi_lab.set_mode(device.server.bmc.port, "no_sol")
    owner = signed_in(member(device, Role.OWNER))

    async def body() -> None:
        browser = Browser(device, owner)
        assert (await browser.socket.connect(timeout=20))[0]
        assert await browser.read_until(lambda b: b.closed is not None, timeout=30)
        assert browser.closed == 4409 and browser.notices[0]["type"] == "end", browser.notices
        assert browser.said("ws-nosol: ") and "disabled" in browser.notices[0]["reason"], browser.notices

    run(body)
    assert not ConsoleSession.objects.filter(device=device).exists()


def test_signing_out_or_losing_the_role_ends_an_open_console(ipmi_lab, transactional_db, settings) -> None:  # noqa: F811
    settings.CONSOLE_RECHECK_SECONDS = 0.2
    device = sol_device(ipmi_lab, "ws-recheck")
    owner, demoted = member(device, Role.OWNER), member(device, Role.COLLABORATOR)
    signed_out = Client()
    signed_out.force_login(owner)
    owner_cookie = f"sessionid={signed_out.cookies['sessionid'].value}".encode()
    demoted_cookie = signed_in(demoted)

    async def body() -> None:
        typing, reading = Browser(device, owner_cookie), Browser(device, demoted_cookie)
        for browser in (typing, reading):
            assert (await browser.socket.connect(timeout=20))[0]
            assert await browser.read_until(lambda b: b.notices)
        await sync_to_async(signed_out.logout)()
        assert await typing.read_until(lambda b: b.closed is not None, timeout=10)
        assert typing.closed == 4000 and typing.notices[-1] == {"type": "end", "reason": ACCESS_LOST}
        assert reading.closed is None  # the other person is still on
        await sync_to_async(accounts.membership_set)(user=demoted, project=device.project, role=Role.READ_ONLY)
        assert await reading.read_until(lambda b: b.closed is not None, timeout=10)
        assert reading.closed == 4000 and reading.notices[-1] == {"type": "end", "reason": ACCESS_LOST}
        for browser in (typing, reading):
            await browser.socket.disconnect()

    run(body)
    sessions = ConsoleSession.objects.filter(device=device)
    assert sessions.count() == 2 and all(s.ended_at is not None and s.end_reason == ACCESS_LOST for s in sessions)
