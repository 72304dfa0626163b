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
no order to get wrong; each critical section is as short as before."""
from __future__ import annotations

import contextlib
import select
import socket
from typing import Any

SEND_WAIT_SECONDS = 1.0
_applied = False


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
            stuck._mark_broken(reason)
    return len(found)


def apply() -> None:
    global _applied
    if _applied:
        return
    from pyghmi.ipmi.private import session

    # pyghmi looks both names up at each use; apply() runs before the first session exists.
    session.WAITING_SESSIONS = session.KEEPALIVE_SESSIONS
    session._io_sendto = _io_sendto
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
