"""The serial console in the browser: a websocket (Django Channels) per person on a device's console tab, joined
to the same ConsoleHub as the SOS listener in the same process (apps.console.server) — so the browser and SSH
share the one SOL connection a BMC allows, its readers and its one writer.

Wire format: binary frames are terminal bytes both ways (output to the browser, keystrokes from it); text
frames from the server are JSON notices: {"type": "status", "keyboard": bool, "text": …} once seated,
{"type": "notice", "text": …}, and {"type": "end", "reason": …} before the server closes. `?mode=read` only reads.

Refusals before the handshake completes (the page never offers the console then): 4401 not signed in, 4403 a
role that cannot use the console (read-only), 4404 no such device for this person (another tenant's included)
or one this console server does not serve. A console that cannot open (no server, BMC busy) is accepted, told
why in an `end` notice and closed with 4409."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import SESSION_KEY

from apps.accounts.selectors import WRITE, can
from apps.console import services
from apps.console.db import db
from apps.console.hub import ConsoleHub, DeviceConsole, Seat
from apps.console.models import ConsoleFace
from apps.installs.selectors import visible_devices

log = logging.getLogger(__name__)

MAX_KEYSTROKE_FRAME = 4096  # bytes one frame may type (a paste is split by the browser)
MAX_PENDING_BYTES = 1024 * 1024  # a browser this far behind the console is disconnected, not buffered forever
ACCESS_LOST = "your access to this console ended (signed out, or your role in the project changed)"

_hub: ConsoleHub | None = None
_facilities: list[str] = []


def shared_hub(*, facilities: list[str] | None = None) -> ConsoleHub:
    """This process's consoles: one hub for the SOS listener and the websocket consumers, so a person on SSH
    and one in the browser are on the same console. `facilities` (set once, by the server) limits which
    devices this process serves (empty: all)."""
    global _hub, _facilities
    if _hub is None:
        _hub = ConsoleHub()
    if facilities is not None:
        _facilities = list(facilities)
    return _hub


class BrowserViewer:
    """One browser on the console: the hub's callbacks (on the event loop) queue frames; one task sends them in order."""

    def __init__(self, consumer: ConsoleConsumer, label: str, source: str) -> None:
        self.consumer, self.label, self.source = consumer, label, source
        self.frames: deque[bytes | str] = deque()
        self.pending = 0
        self.ready = asyncio.Event()
        self.ended: str | None = None

    def put(self, frame: bytes | str) -> None:
        self.frames.append(frame)
        self.pending += len(frame)
        self.ready.set()

    def show(self, data: bytes) -> None:
        if self.pending + len(data) > MAX_PENDING_BYTES:
            self.end("the browser fell too far behind the console")
            return
        self.put(data)

    def notice(self, text: str) -> None:
        self.put(json.dumps({"type": "notice", "text": text}))

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.put(json.dumps({"type": "end", "reason": reason}))

    async def pump(self) -> None:
        """Send the queued frames in order; after an `end` notice, close the websocket."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.frames:
                frame = self.frames.popleft()
                self.pending -= len(frame)
                if isinstance(frame, bytes):
                    await self.consumer.send(bytes_data=frame)
                else:
                    await self.consumer.send(text_data=frame)
            if self.ended is not None:
                await self.consumer.close(code=4000)
                return


class ConsoleConsumer(AsyncWebsocketConsumer):
    """`/ws/devices/<uuid>/console/`: the device's serial console for a signed-in collaborator (or higher)."""

    console: DeviceConsole | None = None
    seat: Seat | None = None
    viewer: BrowserViewer | None = None
    sender: asyncio.Task[None] | None = None
    checker: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        refusal, access = await db(self._access)(user, self.scope["url_route"]["kwargs"]["pk"])
        if access is None:
            await self.close(code=refusal)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        wants_keyboard = query.get("mode", [""])[0] != "read"
        client = self.scope.get("client") or ("", 0)
        self.viewer = BrowserViewer(self, access.label, str(client[0] or ""))
        await self.accept()
        try:
            self.console, self.seat, keyboard = await shared_hub().join(
                access=access, viewer=self.viewer, face=ConsoleFace.BROWSER, wants_keyboard=wants_keyboard)
        except services.ConsoleRefused as exc:
            await self._refuse(f"{access.hostname}: {exc}")
            return
        except Exception as exc:  # the person gets one line; the server's log gets the rest
            log.exception("browser console: opening the console of %s failed", access.device_id)
            await self._refuse(f"{access.hostname}: the console could not be opened ({type(exc).__name__})")
            return
        # What the console printed before this person came, first (without what the seat was shown live since).
        history = self.console.history(self.seat)
        if history:
            self.viewer.frames.appendleft(history)
            self.viewer.pending += len(history)
        if keyboard:
            text = f"{access.hostname}: you are typing"
        elif wants_keyboard:
            text = f"{access.hostname}: the keyboard is held by {self.console.holder()}; you can read, not type"
        else:
            text = f"{access.hostname}: reading"
        self.viewer.put(json.dumps({"type": "status", "keyboard": keyboard, "text": text}))
        self.sender = asyncio.ensure_future(self.viewer.pump())
        self.checker = asyncio.ensure_future(self._recheck_every(settings.CONSOLE_RECHECK_SECONDS, user, access))

    @staticmethod
    def _access(user: Any, pk: Any) -> tuple[int, services.ConsoleAccess | None]:
        try:
            device_id = uuid.UUID(str(pk))
        except ValueError:
            return 4404, None
        device = visible_devices(user).select_related("server__facility", "project").filter(pk=device_id).first()
        if device is None:
            return 4404, None
        if not can(user, device.project, WRITE):
            return 4403, None
        access = services.browser_access(user=user, device=device)
        if _facilities and access.facility not in _facilities:
            return 4404, None
        return 0, access

    async def _recheck_every(self, seconds: float, user: Any, access: services.ConsoleAccess) -> None:
        """A console stays open for as long as its person may use it: signing out (or the session expiring),
        being removed from the project or made read-only ends it within `seconds`."""
        while self.viewer is not None and self.viewer.ended is None:
            await asyncio.sleep(seconds)
            if not await db(self._still_allowed)(user, access):
                self.viewer.end(ACCESS_LOST)
                return

    def _still_allowed(self, user: Any, access: services.ConsoleAccess) -> bool:
        session_key = getattr(self.scope.get("session"), "session_key", None)
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        if session_key is None or str(store.load().get(SESSION_KEY)) != str(user.pk):
            return False
        device = visible_devices(user).select_related("project").filter(pk=access.device_id).first()
        return device is not None and can(user, device.project, WRITE)

    async def _refuse(self, text: str) -> None:
        await self.send(text_data=json.dumps({"type": "end", "reason": text}))
        await self.close(code=4409)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.console is None or self.seat is None:
            return
        data = bytes_data if bytes_data is not None else (text_data or "").encode()
        self.console.type(self.seat, data[:MAX_KEYSTROKE_FRAME])

    async def disconnect(self, code: int) -> None:
        console, seat, self.console, self.seat = self.console, self.seat, None, None
        for task in (self.sender, self.checker):
            if task is not None:
                task.cancel()
        if console is not None and seat is not None:
            reason = self.viewer.ended if self.viewer is not None and self.viewer.ended else f"browser closed ({code})"
            await console.detach(seat, reason)


def websocket_url(device: Any) -> str:
    """Where the device's console page opens its websocket: METALYARD_CONSOLE_WS_URL (with `{facility}`
    replaced by the device's facility code) followed by the path; empty, the page's own host."""
    facility = device.server.facility.code if device.server_id else (device.facility.code if device.facility_id else "")
    base = settings.CONSOLE_WS_URL.replace("{facility}", facility).rstrip("/")
    return f"{base}/ws/devices/{device.pk}/console/"
