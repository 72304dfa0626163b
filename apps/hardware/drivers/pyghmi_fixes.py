"""Fixes to pyghmi's process-wide IPMI I/O that its client (our IPMI driver) and its server side
(the lab's BMCs) both need. Applied once, on import of either.

pyghmi's sender switches a shared UDP socket to blocking mode for each sendto while its I/O thread
switches the same socket to non-blocking for each recvfrom. When a send lands between the I/O
thread's two steps, the I/O thread blocks in recvfrom until that socket receives again — for a
socket whose peer went quiet that is never, and every session in the process stalls. Here sockets
stay non-blocking and a send waits (bounded) for room instead.

pyghmi marks a failed login broken before it stores the reason, and the thread waiting for the
login may look in between (AttributeError 'errormsg', and a wrong password looked retryable):
the reason is stored first here.

pyghmi guards its session tables with two locks and takes them in opposite orders: a send holds
KEEPALIVE_SESSIONS while `_xmit_packet` takes WAITING_SESSIONS, and a retransmission on timeout
holds WAITING_SESSIONS (in `awaitresponse` and `wait_for_rsp`) while `_timedout` → `send_payload`
takes KEEPALIVE_SESSIONS. When one thread retransmits (a silent BMC, a lost packet) while another
sends, both wait for ever, and every later call in the process queues behind them: the power-state
sync then flagged healthy BMCs as silent. Here both names refer to one re-entrant lock, so there is
no order to get wrong; each critical section is as short as before.

A thread waiting in pyghmi's event loop (`Session.wait_for_rsp`) sleeps until a packet arrives or its
timeout passes; work handed to it meanwhile waited. The console pump (drivers.sol) polled every 10 ms, so
each keystroke waited ~7 ms before it was sent (bench/console.py, one session: 12 ms keystroke to echo, of which
the BMC's round trip 1.5 ms). `wake(thread)` ends that thread's wait at once."""
from __future__ import annotations

import contextlib
import select
import socket
import threading
from typing import Any

SEND_WAIT_SECONDS = 1.0
_applied = False
# The event each thread waits on in pyghmi's _io_wait, and the threads woken while not waiting (their next wait
# returns at once, so a wake between "no work" and "wait" is not lost).
_waiting: dict[int, threading.Event] = {}
_woken: set[int] = set()
_waiting_lock = threading.Lock()


def _io_sendto(mysocket: Any, packet: Any, sockaddr: Any) -> None:
    sock = getattr(mysocket, "fd", mysocket)
    try:
        sock.sendto(packet, sockaddr)
    except BlockingIOError:
        # The send buffer is full: wait for room once, bounded, then give up like pyghmi does.
        _, writable, _ = select.select([], [sock], [], SEND_WAIT_SECONDS)
        if writable:
            with contextlib.suppress(OSError):
                sock.sendto(packet, sockaddr)
    except OSError:
        pass  # pyghmi ignores send errors too; the retry timer handles the loss


def wake(thread: threading.Thread) -> None:
    """End `thread`'s wait in pyghmi's event loop now (or its next one, if it is not waiting)."""
    with _waiting_lock:
        event = _waiting.get(thread.ident or 0)
        if event is None:
            _woken.add(thread.ident or 0)
    if event is not None:
        event.set()


def _io_wait(timeout: float, myaddr: Any = None, evq: Any = None) -> None:
    """pyghmi's _io_wait, which `wake()` can end early."""
    from pyghmi.ipmi.private import session

    event = threading.Event()
    if evq is not None:
        evq.append(event)
    deadline = timeout + session._monotonic_time()  # pyghmi's clock (os.times(), not time.monotonic)
    session.ioqueue.append((deadline, event, myaddr))
    if deadline < session.selectdeadline:
        # The I/O thread sleeps past our deadline: wake it to take ours (pyghmi's way).
        _io_sendto(session.iosockets[0], b"\x01", (session.myself, session.iosockets[0].getsockname()[1]))
    me = threading.get_ident()
    with _waiting_lock:
        if me in _woken:
            _woken.discard(me)
            event.set()
        _waiting[me] = event
    try:
        event.wait()
    finally:
        with _waiting_lock:
            _waiting.pop(me, None)
            _woken.discard(me)


def sessions_break(*, host: str, port: int, reason: str) -> int:
    """End every pyghmi session (logging in or logged in) of this process with the BMC at host:port:
    threads waiting on them return at once with an error. Used when our caller abandoned a call at
    its deadline: pyghmi itself would go on retrying that session for longer than any deadline of
    ours, holding the BMC (our per-BMC lock, and pyghmi's session cache, which would hand the stuck
    session to the next login with the same credentials). Returns how many sessions it ended."""
    from pyghmi.ipmi.private import session

    found: list[Any] = []
    with session.util.protect(session.KEEPALIVE_SESSIONS):
        candidates = list(session.Session.initting_sessions.values())
        for handlers in list(session.Session.bmc_handlers.values()):
            candidates += list(handlers.values())
        for candidate in candidates:
            if getattr(candidate, "bmc", None) == host and getattr(candidate, "port", None) == port \
                    and not getattr(candidate, "broken", False) and all(candidate is not f for f in found):
                found.append(candidate)
    for stuck in found:
        with contextlib.suppress(Exception):  # a session that ends on its own meanwhile is fine
            drop_session(stuck, reason)
    return len(found)


def drop_session(session: Any, reason: str) -> None:
    """End a pyghmi session here, without a word to its BMC, which has stopped answering: marked not logged in
    first, since _mark_broken would otherwise log out through that BMC, sending "close session" and waiting behind
    the unanswered command's own retries (18 s in the calling worker after a 1.5 s deadline; a console's close held
    every other console). The BMC ends the session on its own timeout."""
    session.logged = 0
    session._mark_broken(reason)


def apply() -> None:
    global _applied
    if _applied:
        return
    from pyghmi.ipmi.private import session

    # pyghmi looks both names up at each use; apply() runs before the first session exists.
    session.WAITING_SESSIONS = session.KEEPALIVE_SESSIONS
    session._io_sendto = _io_sendto
    session._io_wait = _io_wait
    original_assign = session.Session._assignsocket.__func__

    def _assignsocket(cls: Any, server: Any = None, forbiddensockets: Any = ()) -> socket.socket:
        sock = original_assign(cls, server=server, forbiddensockets=forbiddensockets)
        sock.setblocking(False)
        return sock

    session.Session._assignsocket = classmethod(_assignsocket)
    original_mark_broken = session.Session._mark_broken

    def _mark_broken(self: Any, error: Any = None) -> None:
        self.errormsg = error
        original_mark_broken(self, error)

    session.Session._mark_broken = _mark_broken
    _applied = True
