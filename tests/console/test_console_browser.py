"""The console tab in a real browser (Playwright + Debian's Chromium): xterm.js on the device page, over the
console server's websocket (apps.console.server: uvicorn and the SOS listener in one loop, on ephemeral ports),
to a lab IPMI BMC serving Serial-over-LAN (its serial peer, no QEMU). The machine's boot output arrives live,
a typed line echoes, a second person is told who types, a read-only member gets no console; axe-core and the
browser's console stay clean. Debian's OpenSSH client on the same console server shares the console with the
browser: the same output, and the keyboard held by whoever took it first, whichever face."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.console.models import ConsoleSession
from apps.console.server import run
from tests.console.sos_process import SshClient, make_key
from tests.console.test_console_web import sol_device
from tests.factories import UserFactory
from tests.installs.lab_site import wait_for
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab  # noqa: F401 - fixture
from tests.portal.browser import browse, chromium, sign_in  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("ipmitool") is None,
                                 reason="needs Debian's openssh-client and ipmitool")]
USER_PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory's


class ConsoleServer:
    """`manage.py sos`'s server (SSH and websockets) on a thread of its own, on ephemeral ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.ports: tuple[int, int | None] | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.started.wait(30) and self.ports is not None, "the console server did not start"

    def _serve(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()

            def ready(sos_port: int, web_port: int | None) -> None:
                self.ports = (sos_port, web_port)
                self.started.set()
            await run(sos_bind="127.0.0.1:0", web_bind="127.0.0.1:0", facilities=[], ready=ready, stop=self.stop_event)
        try:
            self.loop.run_until_complete(main())
        finally:
            self.started.set()
            self.loop.close()

    def stop(self) -> None:
        if self.stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def console_server(live_server: Any, settings: Any) -> Iterator[ConsoleServer]:
    server = ConsoleServer()
    # The page's host name (its session cookie goes only there), the console server's port.
    settings.CONSOLE_WS_URL = f"ws://{urlsplit(live_server.url).hostname}:{server.ports[1]}"
    try:
        yield server
    finally:
        server.stop()


def _screen(page: Any) -> str:
    return page.locator("#console-terminal .xterm-rows").inner_text()


def test_the_console_tab_shows_the_serial_console_live_and_types_on_it(live_server, console_server, browse, ipmi_lab,  # noqa: F811
                                                                     tmp_path):
    device = sol_device(ipmi_lab, "web-sol")
    port = device.server.bmc.port
    ipmi_lab.set_state(port, power="off")
    owner = UserFactory(username="ada", email="ada@example.com")
    second = UserFactory(username="bob", email="bob@example.com")
    reader = UserFactory(username="rea", email="rea@example.com")
    for user, role in ((owner, Role.OWNER), (second, Role.COLLABORATOR), (reader, Role.READ_ONLY)):
        accounts.membership_set(user=user, project=device.project, role=role)
    key_path, public_key = make_key(tmp_path, "bob")
    accounts.ssh_key_create(label="bob", key=public_key, owner=second)
    device.ssh_keys = [public_key]
    device.save(update_fields=["ssh_keys"])
    base, url = live_server.url, f"{live_server.url}/devices/{device.pk}/console/"

    person = browse()
    page = person.page
    sign_in(person, base, "ada", USER_PASSWORD)
    page.goto(url)
    page.get_by_role("button", name="Connect").click()
    status = page.get_by_test_id("console-status")
    status.filter(has_text="web-sol: you are typing").wait_for()

    # The machine boots (powered on from another IPMI client): its serial output arrives in xterm.js as it prints.
    subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", USERNAME, "-P", PASSWORD,
                    "chassis", "power", "on"], check=True, capture_output=True, timeout=30)
    page.wait_for_function("() => document.querySelector('#console-terminal .xterm-rows').innerText.includes('web-sol login:')")
    page.locator("#console-terminal").click()
    page.keyboard.type("hello browser")
    page.keyboard.press("Enter")
    page.wait_for_function("() => /hello browser\\s*\\n\\s*web-sol login:/.test(document.querySelector('#console-terminal .xterm-rows').innerText)")
    person.check_accessibility()
    person.shot("device-console", docs=True)

    # A second collaborator reads the same console (what was printed before, too) and is told who types.
    other = browse()
    sign_in(other, base, "bob", USER_PASSWORD)
    other.page.goto(url)
    other.page.get_by_role("button", name="Connect").click()
    other.page.get_by_test_id("console-status").filter(has_text="the keyboard is held by ada@example.com").wait_for()
    other.page.wait_for_function("() => document.querySelector('#console-terminal .xterm-rows').innerText.includes('hello browser')")
    other.page.locator("#console-terminal").click()
    other.page.keyboard.type("ignored")
    page.keyboard.type("again")
    page.keyboard.press("Enter")
    other.page.wait_for_function("() => document.querySelector('#console-terminal .xterm-rows').innerText.includes('again')")
    assert "ignored" not in _screen(page) and "ignored" not in _screen(other.page)

    # The same console over SSH (OpenSSH, bob's key): the browser holds the keyboard, SSH is told so and reads.
    ssh = SshClient(key=key_path, port=console_server.ports[0], user=str(device.pk))
    try:
        assert ssh.wait_for(b"the keyboard is held by ada@example.com (from 127.0.0.1", stderr=True), bytes(ssh.err)
        page.keyboard.type("over both")
        page.keyboard.press("Enter")
        assert ssh.wait_for(b"over both\r\nweb-sol login: "), bytes(ssh.out)
        ssh.type(b"~.")
        assert ssh.wait(timeout=20) == 0
    finally:
        ssh.stop()

    # A read-only member: the tab answers 403 and says why, with no console to connect to (fetched with the
    # browser's own session rather than navigated to: Chromium logs every 403 page as a console error).
    read_only = browse()
    sign_in(read_only, base, "rea", USER_PASSWORD)
    refused = read_only.page.request.get(url)
    assert refused.status == 403 and "cannot use the console" in refused.text()
    assert 'id="console-connect"' not in refused.text() and "xterm" not in refused.text()

    page.get_by_role("button", name="Disconnect").click()
    status.filter(has_text="Disconnected").wait_for()
    other.page.close()  # leaving the page closes its websocket
    assert wait_for(lambda: ConsoleSession.objects.filter(device=device, ended_at__isnull=False).count() == 3, timeout=20)
    sessions = list(ConsoleSession.objects.filter(device=device).order_by("started_at"))
    assert [(s.user, s.face, s.writer) for s in sessions] == [
        (owner, "browser", True), (second, "browser", False), (second, "ssh", False)]
    assert sessions[0].bytes_typed == len("hello browser\ragain\rover both\r") and sessions[0].source_address == "127.0.0.1"
