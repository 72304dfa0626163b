"""The serial port behind a lab IPMI BMC, which the BMC serves as Serial-over-LAN (apps.lab.bmc_ipmi).

Two kinds of machine sit behind it:
- a QEMU machine, whose serial port is a Unix socket (apps.lab.netboot.qemu); the port connects to it
  (and again after every boot, since each boot is a new QEMU process) and passes bytes both ways;
- otherwise the light machine's own console: it prints a boot line on power-on and a login prompt,
  echoes what is typed (as a terminal in canonical mode does) and answers a line with a new prompt.

Everything here runs on the IPMI lab's loop thread, except the socket reader, which hands what it reads
to that thread (`IpmiLab.call_soon`)."""
from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

RECONNECT_SECONDS = 0.3


def note(text: str) -> None:
    """A line in the lab process's log (its stderr, which the test or the lab's runner shows): when the
    console path breaks, this says which hop did."""
    print(f"{time.strftime('%H:%M:%S')} lab serial: {text}", file=sys.stderr, flush=True)


class LabSerialPort:
    def __init__(self, *, name: str, to_bmc: Callable[[bytes], None], call_soon: Callable[[Callable[[], None]], None]) -> None:
        self.name = name
        self.to_bmc = to_bmc  # what the machine writes: the BMC passes it to the SOL user (if any)
        self.call_soon = call_soon
        self.socket_path: str | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self.typed = 0  # bytes the SOL user typed (a test reads it through the BMC's state)

    # -- the machine's side -------------------------------------------------------------------
    def attach(self, path: str | None) -> None:
        """Connect to a QEMU serial socket at `path` (None: back to the emulated console)."""
        self.detach()
        self.socket_path = path
        if path:
            self._stop.clear()
            self._reader = threading.Thread(target=self._read_socket, name=f"lab-serial-{self.name}", daemon=True)
            self._reader.start()

    def detach(self) -> None:
        self._stop.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.socket_path = None

    def _read_socket(self) -> None:
        path = self.socket_path
        while not self._stop.is_set() and path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(2.0)
                sock.connect(path)
                sock.settimeout(0.5)
            except OSError:
                sock.close()
                self._stop.wait(RECONNECT_SECONDS)  # QEMU is not (yet, or any more) running
                continue
            self._sock = sock
            note(f"{self.name}: connected to the machine's serial port {path}")
            passed, why = 0, "detached"
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError as exc:
                    why = f"read error {exc}"
                    break
                if not data:
                    why = "the machine closed it"  # QEMU exited (a power-off or the end of a boot)
                    break
                passed += len(data)
                self.call_soon(lambda data=data: self.to_bmc(data))
            note(f"{self.name}: serial port {path} gone ({why}) after {passed} bytes; reconnecting")
            self._sock = None
            with contextlib.suppress(OSError):
                sock.close()

    def powered_on(self, bootdev: str) -> None:
        if self.socket_path is None:
            self.to_bmc(f"\r\nMetalyard lab machine {self.name}: powered on, booting from {bootdev}\r\n\r\n{self.prompt}".encode())

    @property
    def prompt(self) -> str:
        return f"{self.name} login: "

    # -- the SOL user's side ---------------------------------------------------------------------
    def typed_by_user(self, data: Any) -> None:
        """What the SOL user typed (pyghmi hands it over a byte or a few at a time)."""
        data = bytes(data) if not isinstance(data, bytes) else data
        self.typed += len(data)
        if self.socket_path is not None:
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.sendall(data)
            return
        # The emulated console: echo as a terminal does; a line ends with a fresh prompt.
        out = bytearray()
        for byte in data:
            if byte in (0x0D, 0x0A):
                out += b"\r\n" + self.prompt.encode()
            elif byte == 0x7F:
                out += b"\b \b"
            else:
                out.append(byte)
        if out:
            self.to_bmc(bytes(out))
