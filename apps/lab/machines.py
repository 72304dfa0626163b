"""The machines behind the lab's BMCs. The BMC emulators call `on_power_on(server_id, bootdev)`;
handlers registered with `register_power_on()` act on it. The emulation (`emulate()`, switched on
by the lab, the tests and the benchmarks) boots the server's machine: a QEMU virtual machine for
servers registered with `qemu_register()` (the real netboot test), otherwise a light emulated
machine — a thread that behaves like the installer on real hardware over HTTP on loopback (fetches
its iPXE script by MAC, its metadata and image, posts events with realistic delays, phones home).
Powered on from its disk after an install, a machine boots what the installer wrote, and that
system phones home too. Hundreds run at once.

Delays are scaled by settings.LAB_MACHINE_DELAY_SCALE (1.0 realistic, 0 for benchmarks)."""
from __future__ import annotations

import functools
import hashlib
import http.client
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 30
# Seconds a real server spends between the calls it makes (firmware + DHCP, kernel boot, disk work),
# scaled by LAB_MACHINE_DELAY_SCALE.
REAL_DELAYS = {"firmware": 6.0, "kernel": 4.0, "partition": 2.0, "image": 20.0, "configure": 3.0, "os_boot": 15.0}
# Boot devices that netboot; "default" is the firmware's own order, which puts the network first here.
NETWORK_BOOT = frozenset({"network", "pxe", "default"})


@dataclass
class MachineRun:
    """What one boot of a light machine did: the calls it made and how long each took (for benchmarks)."""

    server_id: str
    mac: str
    bootdev: str
    address: str | None = None  # the source address it calls from: its NIC's provisioning reservation
    mode: str = ""
    calls: list[tuple[str, float, int]] = field(default_factory=list)  # (what, seconds, HTTP status)
    hardware_seconds: float = 0.0  # time spent in emulated delays, not waiting on the platform
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str = ""
    scripts: list[str] = field(default_factory=list)  # iPXE scripts reached through `chain` (custom iPXE)
    rescue: dict[str, Any] | None = None  # what the rescue system was given (keys, addresses)


@dataclass
class QemuSpec:
    workdir: Path
    disk: Path | None
    base_url: str  # the platform as the guest sees it, e.g. http://10.0.2.2:PORT
    netns: str | None = None  # on a tap device in this network namespace (its DHCP gives the boot URL)
    tap: str | None = None


_lock = threading.Lock()
_qemu_specs: dict[str, QemuSpec] = {}
_qemu_running: dict[str, Any] = {}
_qemu_last: dict[str, Any] = {}  # the latest QEMU machine of each server, running or not (tests read its console)
_light_running: dict[str, threading.Event] = {}
# What each light machine's disk holds once an installer wrote it: where its installed system calls
# home at first boot (the installer leaves that on the disk, as a real one configures cloud-init).
_light_disks: dict[str, dict[str, str]] = {}
runs: list[MachineRun] = []  # every light machine boot since the process started (bounded below)
MAX_RUNS_KEPT = 10000


def qemu_register(server_id: Any, *, workdir: Path, disk: Path | None, base_url: str, netns: str | None = None,
                  tap: str | None = None) -> None:
    """From now on, powering `server_id` on with boot device network starts a QEMU machine (on QEMU's
    user networking, or on `tap` in network namespace `netns`)."""
    with _lock:
        _qemu_specs[str(server_id)] = QemuSpec(workdir=workdir, disk=disk, base_url=base_url.rstrip("/"), netns=netns, tap=tap)


def qemu_unregister(server_id: Any) -> None:
    with _lock:
        _qemu_specs.pop(str(server_id), None)
        _qemu_last.pop(str(server_id), None)
    _stop_qemu(str(server_id))


def qemu_machine(server_id: Any) -> Any:
    """The latest QEMU machine started for the server (it may have stopped since)."""
    return _qemu_last.get(str(server_id))


def light_disk(server_id: Any) -> dict[str, str]:
    """What the light machine's disk of `server_id` holds (its installed system's settings and, under "data",
    what the customer keeps on its data partitions); tests write a marker there and read it back."""
    with _lock:
        return _light_disks.setdefault(str(server_id), {})


def _first_nic(server_id: str) -> tuple[str, str | None] | None:
    """(MAC, provisioning address or None) of the server's first NIC: what its firmware netboots with."""
    from django.db import connection

    from apps.hardware.models import NetworkInterface

    try:
        return NetworkInterface.objects.filter(server_id=server_id).order_by("name").values_list(
            "mac", "provisioning_reservation__address").first()
    finally:
        # Handlers run on the BMC lab's event thread: leave no connection open there.
        if threading.current_thread() is not threading.main_thread():
            connection.close()


PowerOnHandler = Callable[[str | None, str], None]
_handlers: list[PowerOnHandler] = []


def register_power_on(handler: PowerOnHandler) -> PowerOnHandler:
    """Call handler(server_id, bootdev) on every emulated power-on; usable as a decorator."""
    with _lock:
        if handler not in _handlers:
            _handlers.append(handler)
    return handler


def unregister_power_on(handler: PowerOnHandler) -> None:
    with _lock:
        if handler in _handlers:
            _handlers.remove(handler)


def on_power_on(server_id: str | None, bootdev: str) -> None:
    """What the BMC emulators call when their server powers on (or comes back from a cycle).
    bootdev is "network", "disk", "default" (the firmware's own order) or another device name.
    Handlers run on the lab's event thread, so they start long work in threads of their own."""
    with _lock:
        handlers = list(_handlers)
    for handler in handlers:
        try:
            handler(server_id, bootdev)
        except Exception:
            log.exception("lab: power-on handler %r failed for server %s", handler, server_id)


def emulate(enabled: bool = True) -> None:
    """Turn the machine emulation on (the lab, tests, benchmarks) or off: powered-on servers boot."""
    (register_power_on if enabled else unregister_power_on)(boot_machine)


def boot_machine(server_id: str | None, bootdev: str) -> None:
    """The emulation's power-on handler: the server's machine boots from `bootdev`."""
    if server_id is None:
        return
    server_id = str(server_id)
    on_power_off(server_id)
    from_network = bootdev in NETWORK_BOOT
    spec = _qemu_specs.get(server_id)
    if not from_network and spec is None and server_id not in _light_disks:
        return  # a disk boot with nothing installed on the disk: nothing starts
    nic = _first_nic(server_id)
    if nic is None:
        log.warning("lab: server %s powered on with no NIC; nothing boots", server_id)
        return
    mac, address = nic
    if spec is not None:
        from apps.lab.netboot.qemu import QemuMachine

        machine = QemuMachine(mac=mac, bootfile_url=f"{spec.base_url}/ipxe/boot.ipxe", workdir=spec.workdir, disk=spec.disk,
                              boot="network" if from_network else "disk", netns=spec.netns, tap=spec.tap)
        machine.start()
        log.info("lab: server %s boots from %s in QEMU (pid %s, serial port %s)", server_id, machine.boot,
                 machine.process.pid if machine.process else None, machine.serial_socket)
        with _lock:
            _qemu_running[server_id] = machine
            _qemu_last[server_id] = machine
        return
    stop = threading.Event()
    with _lock:
        _light_running[server_id] = stop
    thread = threading.Thread(target=_light_boot, args=(server_id, mac, address, bootdev, stop), name=f"lab-machine-{mac}",
                              daemon=True)
    thread.start()


def on_power_off(server_id: Any) -> None:
    """Called by the lab BMC when its server loses power: whatever ran on it stops."""
    server_id = str(server_id)
    with _lock:
        stop = _light_running.pop(server_id, None)
    if stop is not None:
        stop.set()
    _stop_qemu(server_id)


def _stop_qemu(server_id: str) -> None:
    with _lock:
        machine = _qemu_running.pop(server_id, None)
    if machine is not None:
        machine.stop()


def stop_all() -> None:
    for server_id in list(_light_running) + list(_qemu_running):
        on_power_off(server_id)


# ---------------------------------------------------------------------------------------------- light machines


class _PoweredOff(Exception):
    pass


class SourceAddressHandler(urllib.request.HTTPHandler):
    """Plain-HTTP connections from a given local source address."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


class LightMachine:
    """One boot of an emulated server, talking HTTP to the platform like the busybox installer does."""

    def __init__(self, run: MachineRun, stop: threading.Event, base_url: str, scale: float) -> None:
        self.run, self.stop, self.base_url, self.scale = run, stop, base_url.rstrip("/"), scale
        self.secret = ""
        # Every address in 127.0.0.0/8 is local: the machine calls from its reservation, as a real
        # one calls from the address DHCP gave it, so the platform's address check applies.
        self.opener = urllib.request.build_opener(SourceAddressHandler(run.address)) if run.address else urllib.request.build_opener()

    def pause(self, what: str) -> None:
        seconds = REAL_DELAYS[what] * self.scale
        if seconds > 0:
            if self.stop.wait(seconds):
                raise _PoweredOff
            self.run.hardware_seconds += seconds
        elif self.stop.is_set():
            raise _PoweredOff

    def call(self, what: str, url: str, body: dict[str, Any] | None = None) -> bytes:
        headers = {"X-Metalyard-Secret": self.secret} if self.secret else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an HTTP URL: {url!r}")
        request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")  # noqa: S310
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=HTTP_TIMEOUT) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            self.run.calls.append((what, time.monotonic() - started, exc.code))
            raise
        self.run.calls.append((what, time.monotonic() - started, status))
        return payload

    def boot(self) -> None:
        if self.run.bootdev not in NETWORK_BOOT:
            self.first_boot()
            return
        self.pause("firmware")
        entry = self.call("ipxe-entry", f"{self.base_url}/ipxe/boot.ipxe").decode()
        chain = re.search(r"chain\s+(\S+)", entry)
        if not chain:
            raise RuntimeError(f"entry script has no chain: {entry!r}")
        script = self.call("ipxe-script", chain.group(1).replace("${net0/mac:hexhyp}", self.run.mac.replace(":", "-"))).decode()
        script = self.follow_chains(script)
        if script is None:
            return
        kernel = re.search(r"^kernel\s+(.*)$", script, re.MULTILINE)
        if not kernel:
            self.run.mode = "local-disk"
            return  # the script said boot from disk
        args = dict(re.findall(r"metalyard\.(\w+)=(\S+)", kernel.group(1)))
        api, self.run.mode = args["api"], args.get("mode", "install")
        self.pause("kernel")
        if "/machine/" in api:  # an install run: claim it once for this phase's secret, as the installer does
            self.secret = json.loads(self.call("claim", f"{api}/claim", {}))["secret"]
        if self.run.mode == "discover":
            self.call("inventory", f"{api}/inventory", lab_inventory(self.run.server_id, self.run.mac))
            return
        meta = json.loads(self.call("metadata", f"{api}/metadata"))
        self.call("event", f"{api}/events", {"type": "provisioning.104", "body": "Connected to magic install system"})
        if self.run.mode == "rescue":
            # In memory: the disk is not touched. The keys and addresses it was given are what a shell would see.
            self.run.rescue = {"ssh_keys": list(meta.get("ssh_keys") or []),
                               "addresses": [f"{a['address']}/{a['cidr']}" for a in meta.get("network", {}).get("addresses", [])]}
            self.call("phone-home", f"{api}/phone-home", {"state": "rescued"})
            return
        if self.run.mode == "wipe":
            _light_disks.pop(self.run.server_id, None)
            self.pause("partition")
            self.call("event", f"{api}/events", {"type": "provisioning.105", "body": "Disk wiped"})
            # The attestation: every disk wiped, by serial and size.
            disks = [{"serial": d["serial"], "size_bytes": int(d["size_gb"] * 10**9)}
                     for d in lab_inventory(self.run.server_id, self.run.mac)["disks"]]
            self.call("phone-home", f"{api}/phone-home", {"state": "wiped", "disks": disks})
            return
        self.pause("partition")
        disk = _light_disks.setdefault(self.run.server_id, {})
        options = meta.get("reinstall") or {}
        if not options.get("preserve_data") and not options.get("deprovision_fast"):
            disk.pop("data", None)  # the full wipe: the data partitions go with it
        self.call("event", f"{api}/events", {"type": "provisioning.105", "body": "Server partitions created"})
        image = meta["operating_system"]
        data = self.call("image", image["image_url"])
        self.pause("image")
        got = hashlib.sha256(data[: int(image["image_size"])]).hexdigest()
        if got != image["image_sha256"]:
            self.call("failure", f"{api}/failure", {"reason": f"checksum mismatch: expected {image['image_sha256']}, read back {got}"})
            return
        for kind, text in (("provisioning.106", "Operating system packages installed"),
                           ("provisioning.107", "Server networking interfaces configured"),
                           ("provisioning.108", "Cloud-init packages installed and configured"),
                           ("provisioning.109", "Installation finished, rebooting server")):
            self.call("event", f"{api}/events", {"type": kind, "body": text})
        self.pause("configure")
        # The installed system's own phone-home secret (the first-boot phase's), left on the disk.
        disk.update({"api": api, "secret": meta["first_boot"]["secret"]})
        self.call("phone-home", f"{api}/phone-home", {"state": "installed"})

    def follow_chains(self, script: str) -> str | None:
        """Follow `chain URL` lines as iPXE does (a custom iPXE script chains the customer's), a few deep.
        Returns the last script, or None when it boots nothing the lab knows (its text is kept on the run)."""
        for depth in range(5):
            kernel = re.search(r"^kernel\s", script, re.MULTILINE)
            chain = re.search(r"^chain\s+(\S+)", script, re.MULTILINE)
            if kernel or not chain:
                break
            if depth == 0 and "/custom.ipxe" in chain.group(1):
                self.run.mode = "custom-ipxe"
            script = self.call("chain", chain.group(1)).decode()
            self.run.scripts.append(script)
        if self.run.mode == "custom-ipxe":
            return None  # the customer's script runs; what it boots is the customer's business
        return script

    def first_boot(self) -> None:
        """The installed system boots from the disk and calls home, as cloud-init's phone_home does."""
        disk = _light_disks.get(self.run.server_id)
        if disk is None or "secret" not in disk:
            self.run.mode = "no-os"
            return
        self.run.mode, self.secret = "first-boot", disk["secret"]
        self.pause("os_boot")
        self.call("phone-home", f"{disk['api']}/phone-home", {"state": "booted"})


def lab_inventory(server_id: str, mac: str) -> dict[str, Any]:
    """What a discovery image on this server would find: the hardware of its record and plan, and the
    switch ports its NICs see over LLDP (the commissioning report's shape, apps.hardware.commissioning)."""
    from apps.hardware.models import Server

    server = Server.objects.select_related("plan").get(pk=server_id)
    plan = server.plan
    disks = []
    for group in plan.disks or []:
        for _ in range(group["count"]):
            disks.append({"name": f"sd{chr(97 + len(disks))}", "size_gb": group["size_gb"], "type": group["type"],
                          "serial": f"{server.serial}-D{len(disks)}"})
    nics = []
    for nic in server.interfaces.select_related("cable__port__switch").order_by("name"):
        entry: dict[str, Any] = {"name": nic.name, "mac": nic.mac}
        cable = getattr(nic, "cable", None)
        if cable is not None:
            entry["lldp"] = {"switch": cable.port.switch.hostname, "port": cable.port.name}
        nics.append(entry)
    return {"system": {"serial": server.serial}, "cpu": {"model": plan.cpu_model, "count": plan.cpu_count, "cores": plan.cpu_cores},
            "ram_gb": plan.ram_gb, "disks": disks, "nics": nics}


def _light_boot(server_id: str, mac: str, address: str | None, bootdev: str, stop: threading.Event) -> None:
    from django.db import connection

    run = MachineRun(server_id=server_id, mac=mac, bootdev=bootdev, address=address)
    try:
        LightMachine(run, stop, settings.LAB_PLATFORM_URL, float(settings.LAB_MACHINE_DELAY_SCALE)).boot()
    except _PoweredOff:
        run.error = "powered off"
    except Exception as exc:  # a lab machine that breaks is reported on its run, like a real one's console
        run.error = f"{type(exc).__name__}: {exc}"
        log.warning("lab machine %s (%s): %s", mac, server_id, run.error)
    finally:
        run.finished = time.monotonic()
        with _lock:
            runs.append(run)
            del runs[:-MAX_RUNS_KEPT]
            if _light_running.get(server_id) is stop:
                _light_running.pop(server_id, None)
        connection.close()


def lab_inventory_reports() -> int:
    """A commissioning report (what the lab machine's discovery image would post) for every server that
    has none: the inventory a wipe's attestation is checked against. Returns how many were made."""
    from apps.hardware.models import CommissioningReport, Server

    made = 0
    for server in Server.objects.filter(commissioning_reports__isnull=True).prefetch_related("interfaces"):
        nic = min(server.interfaces.all(), key=lambda n: n.name, default=None)
        if nic is None:
            continue
        CommissioningReport.objects.create(server=server, data=lab_inventory(str(server.pk), nic.mac))
        made += 1
    return made
