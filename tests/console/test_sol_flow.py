"""apps.hardware.drivers.sol_flow's fixes to pyghmi's SOL consoles, on the real console classes (the platform's
client and the lab's BMC side) fed packets by hand: what a retransmitted packet prints, and what a session that was
waiting for a command's answer sends once it has it. The network side is a recorder standing in for pyghmi's IPMI
session (the end-to-end paths are in test_lab_sol.py and test_sos.py)."""
from __future__ import annotations

import collections
import threading
from typing import Any

import pytest

from apps.hardware.drivers.sol import _console_class
from apps.lab.bmc_ipmi import LabServerConsole


class RecordingSession:
    """Stands in for pyghmi's Session: records what is sent; `lastpayload` set means a command is in flight."""

    def __init__(self) -> None:
        self.logged = True
        self.lastpayload: Any = None
        self.pendingpayloads: collections.deque = collections.deque()
        self.sent: list[tuple[bytes, Any, Any]] = []

    def send_payload(self, payload: Any = (), payload_type: Any = None, retry: Any = True, **options: Any) -> None:
        if self.lastpayload:  # pyghmi queues everything while a command awaits its answer
            self.pendingpayloads.append((payload, payload_type, retry))
            return
        self.sent.append((bytes(payload), payload_type, retry))


def console_on(cls: type, session: RecordingSession, shown: list) -> Any:
    """A console of `cls` as pyghmi's constructor leaves it once the payload is active (without its network I/O)."""
    console = cls.__new__(cls)
    console.__dict__.update(outputlock=threading.RLock(), keepaliveid=None, connected=True, broken=False,
                            out_handler=shown.append, remseq=0, myseq=0, lastsize=0, retriedpayload=0, pendingoutput=[],
                            awaitingack=False, activated=True, poweredon=True, maxoutcount=255, ipmi_session=session)
    return console


def sol_packet(sequence: int, data: bytes) -> bytearray:
    return bytearray((sequence, 0, 0, 0)) + data


@pytest.mark.parametrize("cls", [_console_class(), LabServerConsole], ids=["platform client", "lab BMC"])
def test_a_retransmitted_packet_with_more_data_prints_just_the_new_part(cls: type) -> None:
    # A sender that gets no acknowledgement resends the packet under the same sequence number, with what was
    # written meanwhile added. pyghmi cut 4 bytes too many off the front: 'ij' of 'efghij', nothing of 'efgh'.
    session, shown = RecordingSession(), []
    console = console_on(cls, session, shown)
    console._got_sol_payload(sol_packet(1, b"abcd"))
    console._got_sol_payload(sol_packet(1, b"abcdefgh"))
    console._got_sol_payload(sol_packet(1, b"abcdefghij"))
    console._got_sol_payload(sol_packet(1, b"abcdefghij"))  # the same again: nothing new
    console._got_sol_payload(sol_packet(2, b"k"))
    assert b"".join(shown) == b"abcdefghijk"
    # Each one acknowledged with the whole length it carried (the sender's count), as pyghmi does.
    assert [sent[0][:3] for sent in session.sent] == [bytes((0, 1, 4)), bytes((0, 1, 8)), bytes((0, 1, 10)),
                                                      bytes((0, 1, 10)), bytes((0, 2, 1))]


def test_what_was_queued_behind_a_command_goes_out_once_its_answer_is_in() -> None:
    # pyghmi's session queues every payload while a command (the console's keep-alive) awaits its answer and,
    # when the answer comes, sends only the first one queued; flush_pending sends the rest, in order.
    session, shown = RecordingSession(), []
    console = console_on(_console_class(), session, shown)
    session.lastpayload = b"keep-alive in flight"
    console.send_data(b"x")  # a keystroke
    console._got_sol_payload(sol_packet(1, b"echo"))  # output from the machine, to acknowledge
    console.flush_pending()
    assert session.sent == [] and len(session.pendingpayloads) == 2  # nothing leaves while the command is out

    session.lastpayload = None  # its answer came
    console.flush_pending()
    assert [payload for payload, _, _ in session.sent] == [bytes((1, 0, 0, 0)) + b"x", bytes((0, 1, 4, 0))]
    assert not session.pendingpayloads and shown == [b"echo"]
