"""The lab speaks Serial-over-LAN: its IPMI BMC (pyghmi's server side, in the lab's own process) serves the
machine's serial port, and the platform's SOL driver (pyghmi's console client) reads and types on it —
the emulated machine's console here (a QEMU machine's serial socket in test_sos_qemu.py)."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

from apps.hardware.drivers import BmcUnsupported
from apps.hardware.drivers.sol import SolBusy, SolUnavailable, sol_open
from tests.lab.bmc_fixtures import ipmi_lab, ipmi_target  # noqa: F401 - fixture

pytestmark = [pytest.mark.timeout(120)]


class Screen:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed: list[str] = []
        self.changed = threading.Condition()

    def output(self, data: bytes) -> None:
        with self.changed:
            self.data += data
            self.changed.notify_all()

    def close(self, reason: str) -> None:
        self.closed.append(reason)

    def wait_for(self, text: bytes, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while text not in self.data and time.monotonic() < deadline:
                self.changed.wait(0.1)
        return text in self.data


def test_the_lab_bmc_serves_the_machine_console_over_sol(ipmi_lab) -> None:  # noqa: F811
    port = ipmi_lab.add(name="sol-a", username="admin", password="lab-secret", power="off")
    screen = Screen()
    console = sol_open(ipmi_target(port), on_output=screen.output, on_closed=screen.close)
    try:
        assert ipmi_lab.state(port)["sol_active"] is True
        # Power on through IPMI from another client (ipmitool: pyghmi's client would share this process's
        # session with the console): the machine's boot line and login prompt arrive over SOL.
        subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", "admin", "-P", "lab-secret",
                        "chassis", "power", "on"], check=True, capture_output=True, timeout=30)
        assert screen.wait_for(b"sol-a login: "), bytes(screen.data)
        console.write(b"hello\r")
        assert screen.wait_for(b"hello\r\nsol-a login: "), bytes(screen.data)
        assert ipmi_lab.state(port)["typed"] == 6
    finally:
        console.close()
    deadline = time.monotonic() + 10
    while ipmi_lab.state(port)["sol_active"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ipmi_lab.state(port)["sol_active"] is False  # closing deactivates: the next client gets it


def test_a_busy_disabled_or_wrongly_credentialed_console_gives_one_line_reasons(ipmi_lab) -> None:  # noqa: F811
    port = ipmi_lab.add(name="sol-b", username="admin", password="lab-secret", power="on")
    first = sol_open(ipmi_target(port), on_output=lambda data: None, on_closed=lambda reason: None)
    try:
        with pytest.raises(SolBusy, match="in use by another client"):
            sol_open(ipmi_target(port), on_output=lambda data: None, on_closed=lambda reason: None)
    finally:
        first.close()
    with pytest.raises(SolUnavailable, match=r"(?i)password"):
        sol_open(ipmi_target(port, password="wrong"), on_output=lambda data: None, on_closed=lambda reason: None)
    ipmi_lab.set_mode(port, "no_sol")
    with pytest.raises(BmcUnsupported, match="disabled"):
        sol_open(ipmi_target(port), on_output=lambda data: None, on_closed=lambda reason: None)


def test_a_console_whose_bmc_stops_answering_does_not_hold_up_the_others(ipmi_lab) -> None:  # noqa: F811
    # One thread drives every console of the process: a keystroke waiting for its acknowledgement from a silent
    # BMC (pyghmi retransmits it for up to 12.5 s) must not keep another console's keystrokes waiting.
    quiet_port = ipmi_lab.add(name="sol-quiet", username="admin", password="lab-secret", power="on")
    busy_port = ipmi_lab.add(name="sol-busy", username="admin", password="lab-secret", power="on")
    quiet, busy = Screen(), Screen()
    quiet_console = sol_open(ipmi_target(quiet_port), on_output=quiet.output, on_closed=quiet.close)
    busy_console = sol_open(ipmi_target(busy_port), on_output=busy.output, on_closed=busy.close)
    try:
        ipmi_lab.set_mode(quiet_port, "silent")
        quiet_console.write(b"x")  # never acknowledged
        time.sleep(0.2)
        started = time.monotonic()
        for char in b"abcde":
            busy_console.write(bytes([char]))
            assert busy.wait_for(bytes([char]), timeout=5), bytes(busy.data)
        assert time.monotonic() - started < 2.0, f"5 echoes took {time.monotonic() - started:.2f} s"
        assert not quiet.data
        # Closing the silent BMC's console does not wait for it either: the others type on, and a new console opens
        # (pyghmi's close waited for the deactivation's retries, and a console opened meanwhile timed out).
        quiet_console.close()
        started = time.monotonic()
        busy_console.write(b"f")
        assert busy.wait_for(b"f", timeout=5), bytes(busy.data)
        assert time.monotonic() - started < 1.0, f"an echo took {time.monotonic() - started:.2f} s after the close"
        other = sol_open(ipmi_target(ipmi_lab.add(name="sol-next", username="admin", password="lab-secret", power="on")),
                         on_output=lambda data: None, on_closed=lambda reason: None)
        other.close()
    finally:
        quiet_console.close()
        busy_console.close()


def test_work_handed_to_the_console_pump_ends_its_wait_in_pyghmis_loop(ipmi_lab) -> None:  # noqa: F811
    # The pump sleeps in pyghmi's event loop until a packet arrives; a keystroke handed to it meanwhile waited for
    # the end of that sleep (10 ms a keystroke at each hop). pyghmi_fixes.wake ends a thread's wait at once, and a
    # wake that comes just before the wait ends the next one: it is never lost.
    from pyghmi.ipmi.private import session

    from apps.hardware.drivers import pyghmi_fixes

    port = ipmi_lab.add(name="sol-wake", username="admin", password="lab-secret", power="on")
    console = sol_open(ipmi_target(port), on_output=lambda data: None, on_closed=lambda reason: None)  # the I/O thread runs
    try:
        waited: list[float] = []

        def wait_long() -> None:
            started = time.monotonic()
            session._io_wait(20.0)
            waited.append(time.monotonic() - started)

        waiter = threading.Thread(target=wait_long)
        waiter.start()
        time.sleep(0.3)
        pyghmi_fixes.wake(waiter)
        waiter.join(timeout=5)
        assert waited and waited[0] < 2.0, f"woken after {waited} s"

        early = threading.Thread(target=lambda: (pyghmi_fixes.wake(threading.current_thread()), wait_long()))
        early.start()
        early.join(timeout=5)
        assert len(waited) == 2 and waited[1] < 2.0, f"a wake before the wait was lost: {waited}"
    finally:
        console.close()
