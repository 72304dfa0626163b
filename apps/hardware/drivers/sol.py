"""Serial-over-LAN: the console of a server through its IPMI BMC, with pyghmi's console client
(`pyghmi.ipmi.console.Console`). Used by the SOS listener (apps.console), which runs on the facility's
side, where the BMC network is reachable.

pyghmi's sessions live in process-wide tables that are not thread-safe, and a console only makes
progress while someone pumps `Session.wait_for_rsp()`. So every console of the process is driven by
one pump thread (`SolPump`): callers hand it work and get their output through callbacks (called on
that thread: keep them short). Every wait has a deadline; a BMC that does not answer, refuses the
login, has SOL disabled or busy, ends the connection with a one-line reason."""
from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from apps.hardware.drivers.base import BmcTarget
from apps.hardware.drivers.errors import BmcUnsupported, FatalBmcError, RetryableBmcError

OutputHandler = Callable[[bytes], None]
CHECK_SECONDS = 0.05
ClosedHandler = Callable[[str], None]


class SolBusy(RetryableBmcError):
    """Another client holds the BMC's console."""


class SolUnavailable(FatalBmcError):
    """The BMC refused or lost the console (credentials, SOL disabled, no answer)."""


def _reason(error: Any) -> str:
    text = str(error.get("error", error) if isinstance(error, dict) else error)
    return text.strip() or "the console session ended"


class SolConnection:
    """One SOL console to one BMC. `write()` types; output and the end arrive through the callbacks."""

    def __init__(self, pump: SolPump, target: BmcTarget, on_output: OutputHandler, on_closed: ClosedHandler) -> None:
        self.pump, self.target = pump, target
        self.on_output, self.on_closed = on_output, on_closed
        self.console: Any = None
        self.ready = threading.Event()
        self.closed_reason: str | None = None
        self.deadline = time.monotonic() + target.timeout

    # -- on the pump thread ---------------------------------------------------------------------
    def _start(self) -> None:
        try:
            self.console = _console_class()(bmc=self.target.host, userid=self.target.username.encode(),
                                           password=self.target.password.encode(), port=self.target.port,
                                           iohandler=self._from_bmc, force=False)
        except Exception as exc:  # pyghmi raises plain exceptions for unreachable hosts
            self._end(f"cannot reach the BMC {self.target.label}: {_reason(exc)}")

    def _from_bmc(self, data: Any) -> None:
        if isinstance(data, dict):
            self._end(_reason(data))
            return
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if data:
            self.on_output(bytes(data))

    def _check(self, now: float) -> None:
        if self.console is not None and self.closed_reason is None:
            self.console.retransmit_due(now)
        if self.closed_reason is not None or self.ready.is_set():
            return
        if self.console is not None and self.console.connected and self.console.activated:
            self.ready.set()
        elif now > self.deadline:
            self._end(f"the BMC {self.target.label} did not open its console within {self.target.timeout:g} s")

    def _end(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self.ready.set()
        self.pump.forget(self)
        self.on_closed(reason)

    # -- from any thread ------------------------------------------------------------------------
    def wait_open(self) -> None:
        """Block until the console is open; raise SolBusy or SolUnavailable with the BMC's reason."""
        self.ready.wait(max(0.1, self.deadline - time.monotonic()) + 1.0)
        self.raise_unless_open()

    def raise_unless_open(self) -> None:
        """Raise SolBusy, BmcUnsupported or SolUnavailable unless the console is open (closing it if it is late)."""
        reason = self.closed_reason
        if reason is None and not self.ready.is_set():
            reason = f"the BMC {self.target.label} did not open its console in time"
            self.close()
        if reason is not None:
            if "another client" in reason or "Maximum SOL" in reason:
                raise SolBusy(f"the console is in use by another client of the BMC ({reason})")
            if "disabled" in reason.lower():
                raise BmcUnsupported(f"Serial-over-LAN is disabled on the BMC ({reason})")
            raise SolUnavailable(reason)

    def write(self, data: bytes) -> None:
        def send() -> None:
            if self.console is not None and self.closed_reason is None:
                self.console.send_data(data)
        self.pump.call(send)

    def close(self) -> None:
        def stop() -> None:
            console, self.console = self.console, None
            if console is not None:
                # Deactivates the payload, so the next client is not refused; a dead session is closed anyway.
                with contextlib.suppress(Exception):
                    console.close_nowait()
            self._end("closed")
        self.pump.call(stop)


class SolPump:
    """The process's one thread that drives every pyghmi console."""

    _instance: SolPump | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def shared(cls) -> SolPump:
        with cls._instance_lock:
            if cls._instance is None or not cls._instance.thread.is_alive():
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        from apps.hardware.drivers import pyghmi_fixes

        pyghmi_fixes.apply()
        self.calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.connections: set[SolConnection] = set()
        self._next_check = 0.0
        self.thread = threading.Thread(target=self._loop, name="sol-pump", daemon=True)
        self.thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        from apps.hardware.drivers import pyghmi_fixes

        self.calls.put(fn)
        if threading.current_thread() is not self.thread:
            pyghmi_fixes.wake(self.thread)  # a keystroke goes out now, not at the end of the pump's wait

    def forget(self, connection: SolConnection) -> None:
        self.connections.discard(connection)

    def open(self, target: BmcTarget, *, on_output: OutputHandler, on_closed: ClosedHandler) -> SolConnection:
        """Start a console to `target`; call `wait_open()` on the result."""
        if target.protocol != "ipmi":
            raise BmcUnsupported(f"Serial-over-LAN needs an IPMI BMC; {target.label} speaks {target.protocol}")
        connection = SolConnection(self, target, on_output, on_closed)

        def start() -> None:
            self.connections.add(connection)
            connection._start()
        self.call(start)
        return connection

    def _loop(self) -> None:
        from pyghmi.ipmi.private import session

        while True:
            try:
                if self.connections:
                    self._receive(session)
                    work = self._take(block=False)
                else:
                    work = self._take(block=True)
                for fn in work:
                    fn()
                now = time.monotonic()
                if now >= self._next_check:
                    # Retransmissions are due in half seconds and keep-alives in tens of seconds: checking every
                    # console after every packet cost more than the packets themselves with 100 consoles open.
                    self._next_check = now + CHECK_SECONDS
                    session.Session.wait_for_rsp(timeout=0)  # pyghmi's keep-alives, command retries and timeouts
                    for connection in list(self.connections):
                        connection._check(now)
            except Exception as exc:  # one broken console must not stop the others
                for connection in list(self.connections):
                    if connection.console is None:
                        connection._end(f"console error: {exc}")

    def _receive(self, session: Any) -> None:
        """Hand the packets that arrived to their sessions, after waiting for one (until the next check at most) if
        none has. pyghmi's `wait_for_rsp` does this too, but first and last walks every session's timers: with 100
        consoles that was most of the pump's time per packet, and the timers need a look only every CHECK_SECONDS."""
        if not session.sessionqueue:
            session._io_wait(max(0.0, self._next_check - time.monotonic()))
        while session.sessionqueue:
            session.sessionqueue.popleft().process_pktqueue()

    def _take(self, *, block: bool) -> list[Callable[[], None]]:
        work: list[Callable[[], None]] = []
        try:
            work.append(self.calls.get(timeout=0.2) if block else self.calls.get_nowait())
            while True:
                work.append(self.calls.get_nowait())
        except queue.Empty:
            pass
        return work


_CONSOLE_CLASS: Any = None


def _console_class() -> Any:
    """pyghmi's console client, sending without waiting for each acknowledgement (drivers.sol_flow)."""
    global _CONSOLE_CLASS
    if _CONSOLE_CLASS is None:
        from pyghmi.ipmi import console

        from apps.hardware.drivers.sol_flow import NonBlockingSolOutput

        _CONSOLE_CLASS = type("SolConsole", (NonBlockingSolOutput, console.Console), {})
    return _CONSOLE_CLASS


async def sol_open_async(target: BmcTarget, *, on_output: OutputHandler, on_closed: ClosedHandler,
                         poll_seconds: float = 0.02) -> SolConnection:
    """sol_open for an asyncio loop: waits without holding a thread. (Waiting in the loop's executor capped the
    consoles opening at once at its few threads: 100 SOS sessions took 20 s to all get their console.)"""
    connection = SolPump.shared().open(target, on_output=on_output, on_closed=on_closed)
    while not connection.ready.is_set() and time.monotonic() < connection.deadline + 1.0:
        await asyncio.sleep(poll_seconds)
    connection.raise_unless_open()
    return connection


def sol_open(target: BmcTarget, *, on_output: OutputHandler, on_closed: ClosedHandler) -> SolConnection:
    """Open the server's serial console; returns once it is open (raises SolBusy, SolUnavailable or
    BmcUnsupported with a one-line reason otherwise)."""
    connection = SolPump.shared().open(target, on_output=on_output, on_closed=on_closed)
    connection.wait_open()
    return connection
