"""The lab's IPMI BMCs: pyghmi's own BMC server side, many BMCs (one UDP port each) on one event
loop in one process. Run as `python -m apps.lab.bmc_ipmi` (no Django needed); it is driven by JSON
lines on stdin and answers, and reports power-on events, as JSON lines on stdout (apps.lab.bmc).

Each BMC keeps power state and boot device and can misbehave on request: `silent` (answers nothing),
`reject_password` (logins fail as with a wrong password), `slow` (answers commands after a delay), `no_sol` (Serial-over-LAN disabled).

Each BMC serves Serial-over-LAN for its machine's serial port (apps.lab.serial): a QEMU machine's
socket, or the light machine's emulated console."""
from __future__ import annotations

import heapq
import itertools
import json
import queue
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi import console as pyghmi_console
from pyghmi.ipmi.private import serversession
from pyghmi.ipmi.private import session as ipmi_session

from apps.hardware.drivers import pyghmi_fixes
from apps.hardware.drivers.sol_flow import NonBlockingSolOutput
from apps.lab.serial import LabSerialPort, note

pyghmi_fixes.apply()

MODES = ("ok", "silent", "reject_password", "slow", "no_sol")
# RMCP+ open session request: algorithm bytes of the auth, integrity and confidentiality payloads.
_AUTH_ALGO, _INTEGRITY_ALGO, _CONF_ALGO = 12, 20, 28
_SUITE_3 = (1, 1, 1)  # RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128
_NO_MATCHING_CIPHER_SUITE = 0x11
# IPMI boot flags (Set/Get System Boot Options, parameter 5).
_BOOT_VALID, _BOOT_PERSISTENT = 0x80, 0x40
_BOOT_DEVICES = {0x04: "network", 0x08: "hd", 0x14: "optical", 0x18: "setup", 0x0C: "safe"}
_BOOT_CODES = {name: code for code, name in _BOOT_DEVICES.items()}


class _Credentials:
    """pyghmi's server looks passwords up with .get(username); a BMC told to reject the password
    answers with a different one, so the client sees exactly what a wrong password gives."""

    def __init__(self, bmc: LabIpmiBmc, username: str, password: str) -> None:
        self.bmc, self.username, self.password = bmc, username, password

    def get(self, username: str, default: Any = None) -> Any:
        if username != self.username:
            return default
        if self.bmc.mode == "reject_password":
            return self.password + "-not-this-one"
        return self.password


class LabServerSession(serversession.ServerSession):
    """pyghmi's server session, refusing cipher suites other than 3. pyghmi's server answers an
    offer of suite 17 with suite 3 without saying no, and pyghmi's client then dies in RAKP2;
    refusing (status 0x11) makes the client fall back to suite 3, as a real BMC would."""

    def create_open_session_response(self, request: bytearray) -> bytearray:
        offered = (request[_AUTH_ALGO], request[_INTEGRITY_ALGO], request[_CONF_ALGO]) if len(request) >= 32 else None
        if offered != _SUITE_3:
            self.clientsessionid = request[4:8]
            return bytearray([request[0], _NO_MATCHING_CIPHER_SUITE, 0, 0]) + self.clientsessionid
        return super().create_open_session_response(request)

    # The client retransmits a handshake message when the answer is late or lost (UDP). pyghmi's
    # server would answer a repeated RAKP 1 or 3 with a *new* answer (a new random, or wrapped in
    # the keys of the step after), which breaks the handshake the client is already in; the lab
    # answers a repeat with the very packet it sent the first time, as BMCs do. (An open-session
    # request cannot be told from a new login: pyghmi's client starts every session with the same
    # tag and console session id.)
    _rakp1_key: bytes | None = None
    _rakp2_packet: bytes | None = None
    _rakp3_key: bytes | None = None
    _rakp4_packet: bytes | None = None

    def _sent(self) -> bytes | None:
        packet = getattr(self, "netpacket", None)
        return bytes(packet) if packet is not None and self.bmc.mode != "silent" else None

    def _repeat(self, packet: bytes | None) -> bool:
        if packet is None or self.bmc.mode == "silent":
            return False
        ipmi_session._io_sendto(self.socket, packet, self.sockaddr)
        return True

    def _got_rmcp_openrequest(self, data: Any) -> None:
        # A new login from the same client UDP port reaches this same session object; pyghmi's
        # server would answer with the previous session's keys, which the client cannot read.
        self.integrityalgo = 0
        self.confalgo = 0
        self.sessionid = 0
        self.sequencenumber = 0
        self.lastpayload = None
        self.kg = self.bmc.kg
        self._rakp1_key = self._rakp2_packet = self._rakp3_key = self._rakp4_packet = None
        super()._got_rmcp_openrequest(data)

    def _got_rakp1(self, data: Any) -> None:
        key = bytes(data[0:24])
        if key == self._rakp1_key and self._repeat(self._rakp2_packet):
            return
        before = getattr(self, "netpacket", None)
        super()._got_rakp1(data)
        if getattr(self, "netpacket", None) is not before:
            self._rakp1_key, self._rakp2_packet = key, self._sent()

    def _got_rakp3(self, data: Any) -> None:
        key = bytes(data)
        if key == self._rakp3_key and self._repeat(self._rakp4_packet):
            return
        before = getattr(self, "netpacket", None)
        super()._got_rakp3(data)
        if getattr(self, "netpacket", None) is not before:
            self._rakp3_key, self._rakp4_packet = key, self._sent()

    def _handle_ipmi_packet(self, data: bytearray, sockaddr: Any = None, qent: Any = None) -> Any:
        # A new login (an IPMI 1.5 packet with session 0, sequence 0) from a client UDP port that
        # already has a session here: pyghmi's server drops *every* session of that client port —
        # those with the other BMCs too, and pyghmi's client multiplexes many BMCs on one port — so
        # their next packets go unanswered. Drop only this BMC's session, then treat it as new.
        if qent is not None and len(data) >= 13 and data[4] in (0, 2):
            sequence = struct.unpack("<I", bytes(data[5:9]))[0]
            session_id = struct.unpack("<I", bytes(data[9:13]))[0]
            handlers = ipmi_session.Session.bmc_handlers
            if sequence == 0 and session_id == 0 and qent[2] in handlers:
                mine = handlers.get(sockaddr, {})
                if mine.get(self.bmc.port) is self:
                    del mine[self.bmc.port]
                if not mine:
                    handlers.pop(sockaddr, None)
                server = handlers[qent[2]][0]
                server.pktqueue.append(qent)
                server.process_pktqueue()
                return None
        return super()._handle_ipmi_packet(data, sockaddr=sockaddr, qent=qent)

    def sessionless_data(self, data: bytes, sockaddr: Any) -> None:
        # pyghmi hands a packet to a server session whose client entry another login just replaced
        # as if it were sessionless; it is one for the BMC (pyghmi's own class lacks this method).
        self.bmc.sessionless_data(data, sockaddr)

    def send_payload(self, *args: Any, **kwargs: Any) -> Any:
        if self.bmc.mode == "silent":
            return None
        return super().send_payload(*args, **kwargs)


class LabServerConsole(NonBlockingSolOutput, pyghmi_console.ServerConsole):
    """pyghmi's BMC-side console, sending the machine's output without blocking the lab's loop on each
    acknowledgement (the loop calls retransmit_due)."""

    def send_payload(self, payload: Any, payload_type: int = 1, retry: bool = True, needskeepalive: bool = False) -> None:
        # Never as a payload awaiting an answer: pyghmi's server console resends with retry=True on a stale
        # acknowledgement, which made the server session queue every later packet (acknowledgements, echoes)
        # behind one that no answer would ever release. Retransmission is retransmit_due's job.
        super().send_payload(payload, payload_type=payload_type, retry=False, needskeepalive=needskeepalive)


SOL_PAYLOAD_BYTES = 255
RETRANSMIT_CHECK_SECONDS = 0.05
STORAGE_NETFN, GET_FRU_AREA_INFO, READ_FRU_DATA = 0x0A, 0x10, 0x11


def _fru_field(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")[:63]
    return bytes([0xC0 | len(raw)]) + raw  # type/length byte: 8-bit text


def _fru_area(body: bytes) -> bytes:
    """An FRU area: version 1, its length in 8-byte units, the body, 0xC1 (end of fields), padding, checksum."""
    content = bytes([1, 0]) + body + b"\xc1"
    total = -(-(len(content) + 1) // 8) * 8
    area = bytearray(content + bytes(total - len(content) - 1))
    area[1] = total // 8
    area.append((-sum(area)) & 0xFF)
    return bytes(area)


def fru_image(*, serial: str, product: str) -> bytes:
    """FRU 0 in the IPMI Platform Management FRU format: a common header and a product area naming the machine's
    manufacturer, product, model, version and serial number (pyghmi reads 'Serial Number' from it)."""
    product_area = _fru_area(bytes([0]) + b"".join(_fru_field(v) for v in (
        "Metalyard Lab", product, "lab-model", "1", serial, "", "")))
    header = bytearray([1, 0, 0, 0, 1, 0, 0])  # product area at offset 8 (1 × 8 bytes)
    header.append((-sum(header)) & 0xFF)
    return bytes(header) + product_area


class LabIpmiBmc(pyghmi_bmc.Bmc):
    def __init__(
        self,
        *,
        lab: IpmiLab,
        name: str,
        username: str,
        password: str,
        address: str = "127.0.0.1",
        port: int = 0,
        server_id: str | None = None,
        power: str = "off",
        system_serial: str = "",
    ) -> None:
        self.lab = lab
        self.name = name
        self.server_id = server_id
        # The machine's serial number, as its FRU (product area) tells it: what commissioning compares.
        self.system_serial = system_serial
        self.mode = "ok"
        self.delay = 0.0
        self.power = power
        self.bootdev = "default"
        self.persistent = False
        self.commands = 0
        self._pending: set[tuple] = set()
        super().__init__(_Credentials(self, username, password), port=port, address=address)
        # Bound to port 0: pyghmi routes session packets by the socket's real port.
        self.port = self.serversocket.getsockname()[1]
        self.serial = LabSerialPort(name=name, to_bmc=self._machine_output, call_soon=lab.call_soon)
        self.iohandler = self._from_sol_user
        self.sol_session: Any = None

    # -- Serial-over-LAN ----------------------------------------------------------------------
    def _from_sol_user(self, data: Any) -> None:
        if isinstance(data, dict):  # pyghmi reports the console's end to the same handler
            note(f"{self.name}: SOL ended: {data.get('error', data)}")
            self.activated, self.sol, self.sol_session = False, None, None
            return
        self.serial.typed_by_user(data)

    def _machine_output(self, data: bytes) -> None:
        if self.sol is not None and self.activated:
            if self.sol.broken:
                # pyghmi's server console gave up on a client that stopped acknowledging, and from then on
                # drops every byte without a word. Deactivate instead: the client's keep-alive (Get Payload
                # Instance Info) then sees no owner and ends its console with a reason the user is shown.
                note(f"{self.name}: the SOL client stopped acknowledging; console deactivated")
                self.activated, self.sol, self.sol_session = False, None, None
                return
            self.sol.send_data(data)

    def activate_payload(self, request: dict, session: Any) -> None:
        # As a real BMC, SOL can be activated with the host off (its boot is then seen from the start);
        # pyghmi's own refuses unless powered on. 0x81: SOL disabled; 0x80: active for another session.
        if self.mode == "no_sol":
            session.send_ipmi_response(code=0x81)
            return
        if self.activated:
            session.send_ipmi_response(code=0x80)
            return
        self.activated = True
        self.sol_session = session
        note(f"{self.name}: SOL activated")
        port = list(struct.unpack("BB", struct.pack("!H", self.port)))
        # Inbound and outbound payload sizes of 255 bytes, as real BMCs announce (pyghmi's client sends at most the
        # inbound size per packet: 1 made a pasted line one packet, and one acknowledgement, per byte).
        session.send_ipmi_response(data=[0, 0, 0, 0, SOL_PAYLOAD_BYTES, 0, SOL_PAYLOAD_BYTES, 0, *port, 0xFF, 0xFF])
        self.sol = LabServerConsole(session, self.iohandler)

    def deactivate_payload(self, request: dict, session: Any) -> None:
        if not self.activated:
            session.send_ipmi_response(code=0x80)
            return
        session.send_ipmi_response()
        note(f"{self.name}: SOL deactivated by the client")
        if self.sol is not None:
            self.sol.close()
        self.activated, self.sol, self.sol_session = False, None, None

    def payload_instance_info(self, session: Any) -> None:
        # Get Payload Instance Info (the SOL client's keep-alive): which session owns the console.
        owner = list(self.sol_session.managedsessionid) if self.activated and self.sol_session is not None else [0, 0, 0, 0]
        session.send_ipmi_response(data=[*owner, 0, 0, 0, 0, 0, 0, 0, 0])

    # -- sessionless traffic (auth capabilities, cipher suites, new sessions) ---------------
    def sessionless_data(self, data: bytes, sockaddr: Any) -> None:
        if self.mode == "silent":
            return
        raw = bytearray(data)
        if len(raw) >= 22 and raw[0] == 6 and raw[2:4] == b"\xff\x07" and raw[4] == 6 and raw[5] == 16:
            LabServerSession(self.authdata, self.kg, sockaddr, self.serversocket, raw[16:], self.uuid, bmc=self)
            return
        super().sessionless_data(data, sockaddr)

    def handle_raw_request(self, request: dict, session: Any) -> None:
        if self.mode == "silent":
            return
        self.commands += 1
        if self.mode == "slow" and self.delay > 0:
            self._answer_later(request, session)
            return
        if request["netfn"] == 6 and request["command"] == 0x4B:
            self.payload_instance_info(session)
            return
        if request["netfn"] == STORAGE_NETFN and request["command"] in (GET_FRU_AREA_INFO, READ_FRU_DATA):
            self.fru_request(request, session)
            return
        super().handle_raw_request(request, session)

    def fru_request(self, request: dict, session: Any) -> None:
        """FRU 0 (the system): Get FRU Inventory Area Info and Read FRU Data, as pyghmi's get_inventory reads them."""
        data = list(request.get("data") or [])
        if not data or data[0] != 0:
            session.send_ipmi_response(code=0xCB)  # no such FRU device
            return
        image = fru_image(serial=self.system_serial, product=self.name)
        if request["command"] == GET_FRU_AREA_INFO:
            session.send_ipmi_response(data=[len(image) & 0xFF, len(image) >> 8, 0])
            return
        if len(data) < 4:
            session.send_ipmi_response(code=0xC7)  # request data length invalid
            return
        offset, count = data[1] | (data[2] << 8), data[3]
        chunk = image[offset:offset + count]
        session.send_ipmi_response(data=[len(chunk), *chunk])

    _REQUEST_CONTEXT = ("seqlun", "clientaddr", "clientnetfn", "rqlun", "clientcommand")

    def _answer_later(self, request: dict, session: Any) -> None:
        # pyghmi answers from fields of the session that the next request overwrites, so keep them
        # with the deferred answer; the client's retransmissions of a pending request are dropped.
        context = {name: getattr(session, name, None) for name in self._REQUEST_CONTEXT}
        key = (id(session), context["seqlun"], context["clientnetfn"], context["clientcommand"])
        if key in self._pending:
            return
        self._pending.add(key)

        def answer() -> None:
            self._pending.discard(key)
            for name, value in context.items():
                setattr(session, name, value)
            pyghmi_bmc.Bmc.handle_raw_request(self, request, session)

        self.lab.later(self.delay, answer)

    # -- the machine ------------------------------------------------------------------------
    def get_power_state(self) -> str:
        return self.power

    def power_on(self) -> int:
        note(f"{self.name}: power on (was {self.power}, boot device {self.bootdev})")
        if self.power == "off":
            self.power = "on"
            self._booted()
        return 0

    def power_off(self) -> int:
        note(f"{self.name}: power off (was {self.power})")
        if self.power == "on":
            self.power = "off"
            self.lab.emit({"event": "power_off", "port": self.port, "name": self.name, "server_id": self.server_id})
        return 0

    def power_shutdown(self) -> int:
        return self.power_off()

    def power_cycle(self) -> int:
        self.power_off()
        return self.power_on()

    def power_reset(self) -> int:
        if self.power == "on":
            self._booted()
        return 0

    def pulse_diag(self) -> int:
        return 0

    def cold_reset(self) -> int:
        return 0

    def is_active(self) -> bool:
        return self.power == "on"

    def _booted(self) -> None:
        device = self.bootdev
        if not self.persistent:
            # A one-time override is used up by the boot it applied to, as on real BMCs.
            self.bootdev = "default"
        self.lab.emit({"event": "power_on", "port": self.port, "name": self.name, "server_id": self.server_id, "bootdev": device})
        self.serial.powered_on(device)

    # Boot options: pyghmi's server drops the persistent flag; the lab keeps it.
    def set_system_boot_options(self, request: dict, session: Any) -> None:
        data = request["data"]
        if data[0] in (0, 3, 4):
            session.send_ipmi_response()
            return
        if data[0] != 5:
            session.send_ipmi_response(code=0x80)  # parameter not supported
            return
        flags, code = data[1], data[2] & 0x3C
        if not flags & _BOOT_VALID or code == 0:
            self.bootdev, self.persistent = "default", False
        elif code in _BOOT_DEVICES:
            self.bootdev, self.persistent = _BOOT_DEVICES[code], bool(flags & _BOOT_PERSISTENT)
        else:
            session.send_ipmi_response(code=0xCC)  # invalid data field
            return
        session.send_ipmi_response()

    def get_system_boot_options(self, request: dict, session: Any) -> None:
        if request["data"][0] != 5:
            session.send_ipmi_response(code=0x80)
            return
        if self.bootdev == "default":
            session.send_ipmi_response(data=[1, 5, 0, 0, 0, 0, 0])
            return
        flags = _BOOT_VALID | (_BOOT_PERSISTENT if self.persistent else 0)
        session.send_ipmi_response(data=[1, 5, flags, _BOOT_CODES[self.bootdev], 0, 0, 0])

    def describe(self) -> dict:
        return {
            "name": self.name,
            "port": self.port,
            "server_id": self.server_id,
            "power": self.power,
            "system_serial": self.system_serial,
            "bootdev": self.bootdev,
            "persistent": self.persistent,
            "mode": self.mode,
            "delay": self.delay,
            "commands": self.commands,
            "sol_active": bool(self.activated),
            "serial_socket": self.serial.socket_path,
            "typed": self.serial.typed,
        }


class IpmiLab:
    """Many lab BMCs on one pyghmi event loop. Everything that touches pyghmi's state runs on the
    loop thread (`call`), because pyghmi's session tables are not thread-safe."""

    def __init__(self, *, emit: Callable[[dict], None]) -> None:
        self.emit = emit
        self.bmcs: dict[int, LabIpmiBmc] = {}
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ipmi-lab", daemon=True)
        self._thread.start()

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the loop thread (from any thread), without waiting for it: at once (a QEMU machine's serial
        output went out up to 20 ms late, at the end of the loop's wait in pyghmi)."""
        self._calls.put(fn)
        if threading.current_thread() is not self._thread:
            pyghmi_fixes.wake(self._thread)

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))

    def call(self, fn: Callable[[], Any], *, timeout: float = 10.0) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn()
            except Exception as exc:
                box["error"] = exc
            done.set()

        self._calls.put(run)
        if not done.wait(timeout):
            raise TimeoutError("the IPMI lab loop did not run the request in time")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def add(self, **spec: Any) -> LabIpmiBmc:
        def create() -> LabIpmiBmc:
            bmc = LabIpmiBmc(lab=self, **spec)
            self.bmcs[bmc.port] = bmc
            return bmc

        return self.call(create)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            try:
                if self.bmcs:
                    ipmi_session.Session.wait_for_rsp(timeout=0.02)
                else:
                    # pyghmi's I/O thread starts with the first socket; waiting on it before would hang.
                    self._stop.wait(0.02)
            except Exception:
                # One malformed exchange must not take the other BMCs down with the loop.
                traceback.print_exc(file=sys.stderr)
            while True:
                try:
                    self._calls.get_nowait()()
                except queue.Empty:
                    break
            now = time.monotonic()
            if now >= next_check:
                # Retransmissions are due in half seconds: looking at every BMC after every packet cost the lab more
                # than the packets did with 100 consoles typing.
                next_check = now + RETRANSMIT_CHECK_SECONDS
                for bmc in self.bmcs.values():
                    if bmc.sol is None:
                        continue
                    try:
                        bmc.sol.retransmit_due(now)
                    except Exception:
                        traceback.print_exc(file=sys.stderr)
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                try:
                    fn()
                except Exception as exc:  # a broken deferred answer must not stop the other BMCs
                    print(f"ipmi lab: deferred answer failed: {exc}", file=sys.stderr)


# -------------------------------------------------------------------- child-process protocol
def _serve(stdin: Any, stdout: Any) -> None:
    write_lock = threading.Lock()

    def send(message: dict) -> None:
        with write_lock:
            stdout.write(json.dumps(message) + "\n")
            stdout.flush()

    lab = IpmiLab(emit=send)

    def handle(request: dict) -> dict:
        op = request.get("op")
        if op == "add":
            spec = {k: request[k] for k in ("name", "username", "password", "address", "port", "server_id", "power", "system_serial")
                    if k in request}
            return {"port": lab.add(**spec).port}
        bmc = lab.bmcs.get(int(request.get("port", -1)))
        if bmc is None:
            raise KeyError(f"no lab BMC on port {request.get('port')}")
        if op == "state":
            return lab.call(bmc.describe)
        if op == "set":
            def apply() -> dict:
                if "mode" in request:
                    if request["mode"] not in MODES:
                        raise ValueError(f"mode must be one of {MODES}")
                    bmc.mode = request["mode"]
                    bmc.delay = float(request.get("delay", bmc.delay or 3.0))
                if "power" in request:
                    bmc.power = request["power"]
                if "system_serial" in request:
                    bmc.system_serial = str(request["system_serial"])
                if "bootdev" in request:
                    bmc.bootdev, bmc.persistent = request["bootdev"], bool(request.get("persistent", False))
                if "serial_socket" in request:
                    bmc.serial.attach(request["serial_socket"])
                return bmc.describe()

            return lab.call(apply)
        raise ValueError(f"unknown op {op!r}")

    send({"ready": True})
    for line in stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = {"id": request.get("id"), "ok": True, **handle(request)}
        except Exception as exc:
            reply = {"id": request.get("id"), "ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
        send(reply)
    lab.stop()


if __name__ == "__main__":
    _serve(sys.stdin, sys.stdout)
