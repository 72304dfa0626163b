"""SOS: the serial console over SSH (asyncssh). `ssh <device id>@<sos host>` with a key allowed on that device
(services.sos_access, the one key rule) joins the device's console: the first session that asks for the
keyboard types, the others read and are told who types; `~.` at the start of a line leaves; `ssh … read`
only reads. Refusals are one line on stderr and exit status 1.

Runs as `manage.py sos` (METALYARD_SOS_BIND), on the facility's side where its BMCs are reachable."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncssh
from django.conf import settings

from apps.console import services
from apps.console.db import db
from apps.console.hub import ConsoleHub, EscapeReader
from apps.console.models import ConsoleFace

log = logging.getLogger(__name__)
READ_ONLY_COMMANDS = frozenset({"read", "watch"})
# The ciphers offered, without asyncssh's default first choice, chacha20-poly1305: asyncssh builds a cipher object
# for each packet of it (30 µs a packet here, against 3 µs for AES-GCM with the CPU's AES instructions), and every
# keystroke on a console is a packet each way. OpenSSH's client takes AES-GCM when chacha20 is not offered.
ENCRYPTION_ALGS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr")
KEY_NO_LONGER_ALLOWED = "your access to this console ended (the key was removed, or your role in the project changed)"


def host_key(path: Path) -> asyncssh.SSHKey:
    """The listener's host key, made (ed25519) at first start and kept."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)
    return asyncssh.read_private_key(str(path))


class SosServer(asyncssh.SSHServer):
    def __init__(self, facilities: list[str]) -> None:
        self.facilities = facilities
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        access = await db(services.sos_access)(
            username=username, fingerprint=key.get_fingerprint("sha256"))
        if access is None or (self.facilities and access.facility not in self.facilities):
            return False
        assert self.conn is not None
        self.conn.set_extra_info(sos_access=access)
        return True


class SshViewer:
    def __init__(self, process: asyncssh.SSHServerProcess, label: str, source: str) -> None:
        self.process, self.label, self.source = process, label, source
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def show(self, data: bytes) -> None:
        if not self.process.stdout.is_closing():
            self.process.stdout.write(data)

    def notice(self, text: str) -> None:
        self.process.stderr.write(f"\r\n[console: {text}]\r\n".encode())

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


class SosListener:
    def __init__(self, *, facilities: list[str] | None = None) -> None:
        self.hub = ConsoleHub()
        self.facilities = list(facilities if facilities is not None else settings.SOS_FACILITIES)
        self.server: Any = None

    async def start(self, host: str, port: int, *, key_path: Path | None = None) -> int:
        self.server = await asyncssh.create_server(
            lambda: SosServer(self.facilities), host, port, server_host_keys=[host_key(key_path or settings.SOS_HOST_KEY)],
            process_factory=self.handle, encoding=None, line_editor=False, allow_scp=False,
            agent_forwarding=False, x11_forwarding=False, login_timeout=30, keepalive_interval=30,
            encryption_algs=list(ENCRYPTION_ALGS))
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for console in list(self.hub.consoles.values()):
            await console.shutdown()

    async def handle(self, process: asyncssh.SSHServerProcess) -> None:
        access: services.ConsoleAccess = process.get_extra_info("sos_access")
        peer = process.get_extra_info("peername") or ("", 0)
        viewer = SshViewer(process, access.label, str(peer[0]))
        wants_keyboard = (process.command or "").strip() not in READ_ONLY_COMMANDS
        try:
            console, seat, keyboard = await self.hub.join(access=access, viewer=viewer, face=ConsoleFace.SSH,
                                                          wants_keyboard=wants_keyboard)
        except services.ConsoleRefused as exc:
            process.stderr.write(f"{access.hostname}: {exc}\r\n".encode())
            process.exit(1)
            return
        except Exception as exc:  # the user gets one line; the listener's log gets the rest
            log.exception("SOS: opening the console of %s failed", access.device_id)
            process.stderr.write(f"{access.hostname}: the console could not be opened ({type(exc).__name__})\r\n".encode())
            process.exit(1)
            return
        if keyboard:
            viewer.notice(f"{access.hostname} ({access.device_id}): you are typing; ~. to leave")
        elif wants_keyboard:
            viewer.notice(f"{access.hostname}: the keyboard is held by {console.holder()}; you can read, not type (~. to leave)")
        else:
            viewer.notice(f"{access.hostname}: reading (~. to leave)")
        reader = asyncio.ensure_future(self._read_input(process, console, seat, viewer))
        checker = asyncio.ensure_future(self._recheck_every(settings.CONSOLE_RECHECK_SECONDS, access, viewer))
        reason = await viewer.ended
        reader.cancel()
        checker.cancel()
        await console.detach(seat, reason)
        if not process.is_closing():
            process.exit(0 if reason in ("~.", "end of input") else 1)

    @staticmethod
    async def _recheck_every(seconds: float, access: services.ConsoleAccess, viewer: SshViewer) -> None:
        """A session stays open only as long as its key may open it (the browser console's rule for its person):
        the key removed from the project or its owner, or its owner made read-only or removed from the project,
        ends the session within `seconds` with the reason. Checked only after authentication otherwise."""
        while not viewer.ended.done():
            await asyncio.sleep(seconds)
            still = await db(services.sos_access)(
                username=str(access.device_id), fingerprint=access.key_fingerprint)
            if still is None:
                viewer.notice(KEY_NO_LONGER_ALLOWED)
                viewer.end(KEY_NO_LONGER_ALLOWED)
                return

    async def _read_input(self, process: asyncssh.SSHServerProcess, console: Any, seat: Any, viewer: SshViewer) -> None:
        escapes = EscapeReader()
        try:
            while True:
                data = await process.stdin.read(4096)
                if not data:
                    viewer.end("end of input")
                    return
                data, leave = escapes.feed(data)
                console.type(seat, data)
                if leave:
                    viewer.end("~.")
                    return
        except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
            return await self._read_input(process, console, seat, viewer)
        except (asyncssh.Error, OSError, asyncio.CancelledError) as exc:
            viewer.end(f"connection closed ({type(exc).__name__})")


def serve(bind: str, *, facilities: list[str] | None = None, ready: Any = None) -> None:
    """Run the SOS listener until interrupted (`manage.py sos`)."""
    host, _, port = bind.rpartition(":")
    listener = SosListener(facilities=facilities)

    async def main() -> None:
        actual = await listener.start(host.strip("[]") or "127.0.0.1", int(port))
        log.info("SOS listening on %s:%s", host, actual)
        if ready is not None:
            ready(actual)
        try:
            await asyncio.Event().wait()
        finally:
            await listener.close()

    asyncio.run(main())
