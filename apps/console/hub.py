"""One device's live console, shared by everyone looking at it through this process: one SOL connection to
the BMC (apps.hardware.drivers.sol), any number of readers, at most one writer (the keyboard); output goes to
all of them and, batched, to the device's scrollback. Lives on an asyncio loop; the SOL driver's callbacks
arrive on its pump thread and are handed to the loop."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from apps.console import services
from apps.console.db import db
from apps.hardware.drivers import BmcError
from apps.hardware.drivers.sol import sol_open_async

log = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0


class Viewer(Protocol):
    label: str
    source: str

    def show(self, data: bytes) -> None: ...
    def notice(self, text: str) -> None: ...
    def end(self, reason: str) -> None: ...


@dataclass(eq=False)
class Seat:
    viewer: Viewer
    session_id: int
    since: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    typed: int = 0
    shown: int = 0


class DeviceConsole:
    def __init__(self, hub: ConsoleHub, device_id: Any) -> None:
        self.hub, self.device_id = hub, device_id
        self.seats: list[Seat] = []
        self.writer: Seat | None = None
        self.connection: Any = None
        self.opening: asyncio.Future[None] | None = None
        self.unsaved = bytearray()
        # The console's latest output in memory (the stored scrollback, then everything printed since), so a
        # newcomer is shown what came before it without a gap or a repeat (`history`).
        self.recent = bytearray()
        self.recent_limit = settings.SOS_SCROLLBACK_BYTES  # read once: _output runs for every echo of every console

    # -- the BMC side -------------------------------------------------------------------------
    async def ensure_open(self) -> None:
        if self.connection is not None:
            return
        if self.opening is None:
            self.opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self.opening)
        finally:
            if self.connection is None:
                self.opening = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        target = await db(services.console_target)(device_id=self.device_id)
        self.recent = bytearray(await db(services.scrollback_read)(device_id=self.device_id))

        def output(data: bytes) -> None:
            loop.call_soon_threadsafe(self._output, data)

        def closed(reason: str) -> None:
            loop.call_soon_threadsafe(self._lost, reason)

        try:
            self.connection = await sol_open_async(target, on_output=output, on_closed=closed)
        except BmcError as exc:
            raise services.ConsoleRefused(str(exc)) from exc
        self.hub.flusher_ensure()

    def _output(self, data: bytes) -> None:
        self.unsaved += data
        self.recent += data
        if len(self.recent) > self.recent_limit:
            del self.recent[: len(self.recent) - self.recent_limit]
        for seat in list(self.seats):
            seat.shown += len(data)
            seat.viewer.show(data)

    def _lost(self, reason: str) -> None:
        if self.connection is None or reason == "closed":
            return
        self.connection = None
        for seat in list(self.seats):
            seat.viewer.end(f"the BMC closed the console: {reason}")

    # -- the people side ----------------------------------------------------------------------
    def attach(self, seat: Seat, *, wants_keyboard: bool) -> bool:
        """Seat a viewer; True if it got the keyboard."""
        self.seats.append(seat)
        if wants_keyboard and self.writer is None:
            self.writer = seat
            return True
        return False

    def history(self, seat: Seat) -> bytes:
        """What the console printed before `seat` was seated (what it was shown live since is left out)."""
        return bytes(self.recent[: max(0, len(self.recent) - seat.shown)])

    def holder(self) -> str:
        if self.writer is None:
            return "nobody"
        return f"{self.writer.viewer.label} (from {self.writer.viewer.source}, since {self.writer.since:%H:%M:%S} UTC)"

    def type(self, seat: Seat, data: bytes) -> None:
        if seat is not self.writer or self.connection is None or not data:
            return
        seat.typed += len(data)
        self.connection.write(data)

    async def detach(self, seat: Seat, reason: str) -> None:
        if seat in self.seats:
            self.seats.remove(seat)
        if self.writer is seat:
            self.writer = None
        await db(services.console_session_close)(
            session_id=seat.session_id, reason=reason, typed=seat.typed, shown=seat.shown)
        if not self.seats:
            await self.shutdown()

    async def shutdown(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()
        self.hub.consoles.pop(self.device_id, None)
        await self.hub.flush_in_flight()  # what it took from this console lands first: the scrollback stays in order
        await self._flush()

    def take_unsaved(self) -> bytes:
        data, self.unsaved = bytes(self.unsaved), bytearray()
        return data

    async def _flush(self) -> None:
        data = self.take_unsaved()
        if data:
            await db(services.scrollback_append)(device_id=self.device_id, data=data)


class ConsoleHub:
    """Every device console this process has open (one per device)."""

    def __init__(self) -> None:
        self.consoles: dict[Any, DeviceConsole] = {}
        self.flusher: asyncio.Task[None] | None = None
        self.flushing: asyncio.Future[None] | None = None

    def flusher_ensure(self) -> None:
        """Every FLUSH_SECONDS, what every open console printed goes to the scrollbacks in one transaction
        (one per console cost a commit and an executor thread each: with 100 consoles, 50 a second)."""
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.ensure_future(self._flush_every())

    async def _flush_every(self) -> None:
        while self.consoles:
            await asyncio.sleep(FLUSH_SECONDS)
            chunks = {device_id: console.take_unsaved() for device_id, console in list(self.consoles.items())}
            self.flushing = asyncio.ensure_future(db(services.scrollback_append_many)(chunks=chunks))
            await self.flush_in_flight()

    async def flush_in_flight(self) -> None:
        flushing = self.flushing
        if flushing is None:
            return
        try:
            await asyncio.shield(flushing)
        except Exception:  # the database away for a moment: the console goes on, this output is not kept
            log.exception("console: the scrollback flush failed")

    def sessions(self) -> int:
        return sum(len(console.seats) for console in self.consoles.values())

    async def join(self, *, access: services.ConsoleAccess, viewer: Viewer, face: str, wants_keyboard: bool,
                   ) -> tuple[DeviceConsole, Seat, bool]:
        """Open (or share) the device's console for `viewer`. Raises ConsoleRefused with the reason."""
        console = self.consoles.get(access.device_id)
        if self.sessions() >= settings.SOS_MAX_SESSIONS:
            raise services.ConsoleRefused("This console server is full; try again in a minute.")
        if console is not None and len(console.seats) >= settings.SOS_MAX_SESSIONS_PER_DEVICE:
            raise services.ConsoleRefused(f"{settings.SOS_MAX_SESSIONS_PER_DEVICE} people are on this console already.")
        if console is None:
            console = self.consoles[access.device_id] = DeviceConsole(self, access.device_id)
        try:
            await console.ensure_open()
        except Exception:
            if not console.seats:
                self.consoles.pop(access.device_id, None)
            raise
        session = await db(services.console_session_open)(
            access=access, face=face, source_address=viewer.source or None, writer=False)
        seat = Seat(viewer=viewer, session_id=session.pk)
        keyboard = console.attach(seat, wants_keyboard=wants_keyboard)
        if keyboard:
            await db(services.console_session_writer)(session_id=session.pk)
        return console, seat, keyboard




class EscapeReader:
    """OpenSSH's escapes, on the server side (they work without a terminal too): `~.` at the start of a
    line disconnects, `~~` sends one `~`; anything else passes through."""

    def __init__(self) -> None:
        self.line_start = True
        self.tilde = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether to disconnect)."""
        out = bytearray()
        for byte in data:
            if self.tilde:
                self.tilde = False
                if byte == ord("."):
                    return bytes(out), True
                if byte != ord("~"):
                    out.append(ord("~"))
                out.append(byte)
                self.line_start = byte in (0x0D, 0x0A)
                continue
            if self.line_start and byte == ord("~"):
                self.tilde = True
                continue
            out.append(byte)
            self.line_start = byte in (0x0D, 0x0A)
        return bytes(out), False
