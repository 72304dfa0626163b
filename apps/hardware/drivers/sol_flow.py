"""Serial-over-LAN output without blocking the thread that drives every console.

pyghmi's `Console._sendoutput` (client and BMC side alike) sends one SOL packet and then waits for its
acknowledgement in a nested `wait_for_rsp` loop, retransmitting for up to 12.5 s. One thread drives every
console of a process (our SolPump; the lab's BMC loop), so each keystroke of each console waited for a full
round trip while the others' queued — with 100 consoles typing, echoes took hundreds of milliseconds
(bench/console.py). Here a packet is sent and the call returns: the acknowledgement arrives through
`_got_sol_payload` as before (which sends what was queued meanwhile, batched), and the driving loop calls
`retransmit_due()` now and then to resend an unacknowledged packet (pyghmi's timing: 0.5 s, then one second
more each time, five times) and, after that, to end the console as pyghmi does ('Connection lost').

`flush_pending()` fixes a stall of pyghmi's session: while an IPMI command is in flight (the console's
keep-alive, every half minute or so) the session queues every payload, SOL packets and acknowledgements too,
and when the answer comes it sends only the first one queued; the rest waited for the next command's answer —
a keystroke or an echo held for ~30 s (bench/console.py's timeouts). The driving loop calls it to send what
is queued once nothing is in flight.

`close_nowait()` replaces pyghmi's `Console.close` on the client side: that one deactivates the payload with a
command it waits for, retries included — with a silent BMC the one thread of every console stood still for
seconds, and consoles opened meanwhile timed out (test_lab_sol). Here the deactivation is sent without waiting,
and a BMC that has stopped answering is let go of at once (its session ended locally).

`_got_sol_payload` fixes how pyghmi (client and BMC side alike) reads a retransmitted packet that carries more
than the first time (the sender added what was written meanwhile, as BMCs do): it takes the new part as
`data[4 + lastsize:]` of data whose 4-byte header is already cut off, so 4 new bytes were lost each time (and
all of them when there were 4 or fewer). The right slice is printed instead."""
from __future__ import annotations

import time
from typing import Any

RETRY_FIRST_SECONDS = 0.5
RETRIES = 5


class NonBlockingSolOutput:
    """Mixed in before pyghmi's Console or ServerConsole."""

    _sent_at: float = 0.0
    _retries_left: int = 0
    _needs_keepalive: bool = False
    _retry_new_data: bytes | None = None

    def _got_sol_payload(self: Any, payload: Any) -> None:
        sequence = payload[0] & 0xF if not isinstance(payload, dict) and len(payload) > 4 else 0
        if sequence and sequence == self.remseq and len(payload) - 4 > self.lastsize:
            self._retry_new_data = bytes(payload[4 + self.lastsize:])  # what pyghmi should have printed
        try:
            super()._got_sol_payload(payload)  # type: ignore[misc]
            if self._retry_new_data:  # pyghmi's slice came out empty, so it printed nothing
                super()._print_data(self._retry_new_data)  # type: ignore[misc]
        finally:
            self._retry_new_data = None

    def _print_data(self: Any, data: Any) -> None:
        if self._retry_new_data is not None and not isinstance(data, dict):
            data, self._retry_new_data = self._retry_new_data, None
        super()._print_data(data)  # type: ignore[misc]

    def _sendoutput(self: Any, output: Any, sendbreak: bool = False) -> None:
        self.myseq = (self.myseq + 1) & 0xF or 1
        payload = bytearray((self.myseq, 0, 0, 0b10000 if sendbreak else 0))
        payload += output if isinstance(output, bytes | bytearray) else str(output).encode("utf8")
        self.lasttextsize = len(output)
        self._needs_keepalive = self.lasttextsize == 0
        self.awaitingack = True
        self.lastpayload = payload
        self._sent_at, self._retries_left = time.monotonic(), RETRIES
        self.send_payload(payload, retry=False, needskeepalive=self._needs_keepalive)

    def flush_pending(self: Any) -> None:
        """Send the session's queued payloads once no command is in flight (see the module's docstring)."""
        session = self.ipmi_session
        while session is not None and not session.lastpayload and session.pendingpayloads:
            payload, payload_type, retry = session.pendingpayloads.popleft()
            session.send_payload(payload=payload, payload_type=payload_type, retry=retry)

    def retransmit_due(self: Any, now: float | None = None) -> None:
        """Resend the unacknowledged packet when its time has come; end the console when retries are spent."""
        self.flush_pending()
        if not self.awaitingack or self.broken:
            return
        now = time.monotonic() if now is None else now
        wait = RETRY_FIRST_SECONDS + (RETRIES - self._retries_left)
        if now - self._sent_at < wait:
            return
        if self._retries_left <= 0:
            self.awaitingack = False
            self._print_error("Connection lost")
            return
        self._retries_left -= 1
        self._sent_at = now
        self.send_payload(self.lastpayload, retry=False, needskeepalive=self._needs_keepalive)

    def close_nowait(self: Any) -> None:
        """End the console without waiting for the BMC (see the module's docstring)."""
        session = self.ipmi_session
        if session is None:
            return
        session.unregister_keepalive(self.keepaliveid)
        if not self.activated or session.broken or not session.logged:
            return
        silent = session._isincommand() or (self.awaitingack and time.monotonic() - self._sent_at > RETRY_FIRST_SECONDS)
        if silent:
            from apps.hardware.drivers import pyghmi_fixes

            pyghmi_fixes.drop_session(session, "the console was closed while its BMC did not answer")
            return

        def deactivated(response: Any) -> None:  # raw_command's contract when given a callback
            session.incommand = False
            while session.evq:
                session.evq.popleft().set()

        session.raw_command(netfn=6, command=0x49, data=(1, 1, 0, 0, 0, 0), callback=deactivated)
