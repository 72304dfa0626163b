"""The lab's BMCs as the rest of the lab (and tests) drive them: an IPMI emulator process serving
many BMCs, one sushy-emulator per Redfish BMC, and the power-on events both report, handed to
apps.lab.machines.on_power_on. Loopback only; every process started here is stopped by stop()."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from apps.lab import machines
from apps.lab.bmc_redfish import RedfishEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_BOOTDEV_NAMES = {"network": "network", "hd": "disk", "default": "default", "Pxe": "network", "Hdd": "disk", "None": "default"}

EventHandler = Callable[[dict], None]


def deliver_to_machines(event: dict) -> None:
    if event.get("event") == "power_off":
        if event.get("server_id"):
            machines.on_power_off(event["server_id"])
        return
    machines.on_power_on(event.get("server_id"), event.get("bootdev", "default"))


class IpmiLabProcess:
    """`python -m apps.lab.bmc_ipmi` as a child process, driven over its stdin/stdout."""

    def __init__(self, *, on_event: EventHandler = deliver_to_machines, log: Any = None) -> None:
        """`log`: a file for the lab process's stderr (its `lab serial: …` lines and errors); default: ours."""
        self.on_event = on_event
        self.events: list[dict] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[threading.Event, dict]] = {}
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "apps.lab.bmc_ipmi"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            stderr=log,
            bufsize=1,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(ready,), name="ipmi-lab-reader", daemon=True)
        self._reader.start()
        if not ready.wait(REQUEST_TIMEOUT):
            self.stop()
            raise RuntimeError("the IPMI lab process did not start; run `python -m apps.lab.bmc_ipmi` to see why")

    def _read(self, ready: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                ready.set()
            elif "event" in message:
                if "bootdev" in message:
                    message["bootdev"] = _BOOTDEV_NAMES.get(message["bootdev"], message["bootdev"])
                message["protocol"] = "ipmi"
                self.events.append(message)
                self.on_event(message)
            elif message.get("id") in self._waiting:
                done, box = self._waiting.pop(message["id"])
                box.update(message)
                done.set()

    def request(self, **payload: Any) -> dict:
        request_id = next(self._ids)
        done, box = threading.Event(), {}
        self._waiting[request_id] = (done, box)
        with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": request_id, **payload}) + "\n")
            self.process.stdin.flush()
        if not done.wait(REQUEST_TIMEOUT):
            self._waiting.pop(request_id, None)
            raise TimeoutError(f"the IPMI lab process did not answer {payload.get('op')} in {REQUEST_TIMEOUT:g} s")
        if not box.get("ok"):
            raise RuntimeError(f"IPMI lab: {box.get('error')}")
        return box

    def add(self, *, name: str, username: str, password: str, server_id: str | None = None, power: str = "off",
            address: str = "127.0.0.1", port: int = 0, system_serial: str = "") -> int:
        return self.request(op="add", name=name, username=username, password=password, server_id=server_id,
                            power=power, address=address, port=port, system_serial=system_serial)["port"]

    def set_mode(self, port: int, mode: str, *, delay: float | None = None) -> dict:
        extra = {"delay": delay} if delay is not None else {}
        return self.request(op="set", port=port, mode=mode, **extra)

    def set_state(self, port: int, **state: Any) -> dict:
        return self.request(op="set", port=port, **state)

    def state(self, port: int) -> dict:
        return self.request(op="state", port=port)

    def stop(self) -> None:
        process = self.process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.close()  # the child exits at end of input
                process.wait(timeout=STOP_TIMEOUT)
            except (subprocess.TimeoutExpired, OSError):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)


class _NotificationHandler(BaseHTTPRequestHandler):
    lab: RedfishLab

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            system = json.loads(self.rfile.read(min(length, 1_000_000)) or b"{}")
        except ValueError:
            system = {}
        self.send_response(204)
        self.end_headers()
        self.lab.notified(system)

    def log_message(self, *args: Any) -> None:
        return None


class RedfishLab:
    """Redfish BMCs (one emulator process each) and the listener their fake driver notifies on
    every state change; a requested power-on becomes a power_on event."""

    def __init__(self, *, on_event: EventHandler = deliver_to_machines, workdir: Path | None = None) -> None:
        self.on_event = on_event
        self.workdir = workdir
        self.events: list[dict] = []
        self.emulators: dict[int, RedfishEmulator] = {}
        self._server_ids: dict[str, str | None] = {}
        self._seen: set[tuple[str, Any]] = set()
        handler = type("Handler", (_NotificationHandler,), {"lab": self})
        self._listener = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._listener.daemon_threads = True
        self._thread = threading.Thread(target=self._listener.serve_forever, name="redfish-lab-notify", daemon=True)
        self._thread.start()

    @property
    def notify_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.server_address[1]}/notify"

    def add(self, *, name: str, username: str, password: str, server_id: str | None = None, power: str = "off",
            address: str = "127.0.0.1", system_serial: str = "") -> RedfishEmulator:
        workdir = self.workdir / name if self.workdir else None
        # A stable system id per name: the emulator keeps its systems in its state directory, and a
        # second system there would make it a multi-system manager.
        emulator = RedfishEmulator(username=username, password=password, name=name, address=address,
                                   power="On" if power == "on" else "Off", notify_url=self.notify_url, workdir=workdir,
                                   system_serial=system_serial,
                                   system_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"metalyard-lab-bmc:{name}")))
        self._server_ids[emulator.system_uuid] = server_id
        emulator.start()
        self.emulators[emulator.port] = emulator
        return emulator

    def notified(self, system: dict) -> None:
        pending = system.get("pending_power") or {}
        if not pending:
            return
        key = (system.get("uuid", ""), pending.get("apply_time"), pending.get("power_state"))
        if key in self._seen:
            return
        self._seen.add(key)
        event = {
            "event": "power_off" if pending.get("power_state") == "Off" else "power_on",
            "protocol": "redfish",
            "name": system.get("name"),
            "server_id": self._server_ids.get(system.get("uuid", "")),
            "bootdev": _BOOTDEV_NAMES.get(system.get("boot_device", "Hdd"), "other"),
        }
        self.events.append(event)
        self.on_event(event)

    def stop(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()
        self.emulators.clear()
        self._listener.shutdown()
        self._listener.server_close()
