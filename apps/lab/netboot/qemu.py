"""One emulated machine: QEMU with software emulation (`-accel tcg`; /dev/kvm here does not work),
a virtio NIC whose firmware (Debian's iPXE) boots from an HTTP URL, and an optional raw virtio disk.
The platform on the host's 127.0.0.1 is 10.0.2.2 inside the guest (QEMU user networking)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from apps.installs.installer.kernel import NetbootToolError

QEMU = "qemu-system-x86_64"
GUEST_HOST_ADDRESS = "10.0.2.2"


def serial_socket_path(mac: str, workdir: Path) -> Path:
    """Where the machine with this MAC, run from `workdir`, has its serial port. Short (a Unix socket path has
    at most 107 bytes, a test's workdir can be longer), and unique to the workdir: the lab's MACs repeat from
    one test run to the next, and two runs at once on one machine (CI beside a developer's QEMU test) each
    unlinked and rebound the other's socket, so a BMC reconnecting after a reboot read another run's QEMU."""
    run = hashlib.sha256(str(Path(workdir).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"metalyard-serial-{os.getuid()}-{run}-{mac.replace(':', '')}.sock"


@dataclass
class QemuMachine:
    mac: str
    bootfile_url: str
    workdir: Path
    disk: Path | None = None
    boot: str = "network"  # or "disk": the BMC's next boot device
    memory_mb: int = 256
    # On a real network instead of QEMU's user networking: the tap device (and the network namespace
    # it is in) the NIC is attached to; a DHCP server there hands out the address and the boot URL.
    netns: str | None = None
    tap: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0

    @property
    def serial_log(self) -> Path:
        return self.workdir / f"serial-{self.mac.replace(':', '-')}.log"

    @property
    def serial_socket(self) -> Path:
        return serial_socket_path(self.mac, self.workdir)

    def command(self) -> list[str]:
        from_disk = self.boot == "disk" and self.disk is not None
        if self.tap is not None:
            netdev = f"tap,id=n0,ifname={self.tap},script=no,downscript=no"
        else:
            netdev = "user,id=n0" if from_disk else f"user,id=n0,bootfile={self.bootfile_url}"
        prefix = ["ip", "netns", "exec", self.netns] if self.netns is not None else []
        cmd = [*prefix, QEMU, "-accel", "tcg", "-smp", "1", "-m", str(self.memory_mb), "-nographic", "-no-reboot",
               "-boot", "c" if from_disk else "n", "-netdev", netdev, "-device", f"virtio-net-pci,netdev=n0,mac={self.mac}"]
        if self.disk is not None:
            cmd += ["-drive", f"file={self.disk},if=virtio,format=raw"]
        # The serial port is a socket (the lab BMC serves it over Serial-over-LAN) that also logs everything
        # to serial_log; -nographic still makes the firmware and iPXE print to it.
        cmd += ["-chardev", f"socket,id=serial0,path={self.serial_socket},server=on,wait=off,logfile={self.serial_log},logappend=on",
                "-serial", "chardev:serial0", "-monitor", "none"]
        return cmd

    def start(self) -> None:
        if shutil.which(QEMU) is None:
            raise NetbootToolError(f"{QEMU} is not installed (Debian: apt-get install -y --no-install-recommends qemu-system-x86 ipxe-qemu)")
        if self.running():
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        # -nographic with stdout to a file: with -display none, firmware and iPXE print nothing to the log.
        self.serial_socket.unlink(missing_ok=True)
        with open(self.workdir / f"qemu-{self.mac.replace(':', '-')}.out", "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.started_at = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if QEMU still runs after `timeout` seconds."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 3.0) -> None:
        """Pull the plug: SIGTERM, then SIGKILL after `grace` seconds (this process only, by its pid)."""
        if not self.running():
            return
        assert self.process is not None
        try:
            os.kill(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self.wait(grace) is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.wait(grace)
        self.serial_socket.unlink(missing_ok=True)

    def log_text(self) -> str:
        try:
            return self.serial_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
