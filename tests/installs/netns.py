"""Network namespaces for the real-network tests: a provisioning network (a bridge with a tap device
for the QEMU machine and the platform's provisioning listener on the bridge's address) and, beside
it, another host on the same segment with an address of its own. Names carry the test process's pid,
so that runs at the same moment never meet; everything is removed at the end.

Only the test process's socket is placed in the namespace (setns in a short-lived thread), so the
platform serves the machine from inside its network, and the machine's source address is real."""
from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT = 20


def available() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, tap devices)"
    if not os.path.exists("/dev/net/tun"):
        return "needs /dev/net/tun"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Namespace:
    name: str
    created: bool = field(default=False, init=False)

    def create(self) -> Namespace:
        ip("netns", "add", self.name)
        self.created = True
        ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def exec(self, *argv: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True, timeout=timeout,
                              check=False, env=env)

    def popen(self, *argv: str, log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def listening_socket(self, address: str, port: int) -> socket.socket:
        """A TCP socket bound to address:port inside this namespace, made in a thread of its own (a
        thread's network namespace is its own; the test's other threads never leave theirs)."""
        made: list[socket.socket | BaseException] = []

        def inside() -> None:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
            target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                if libc.setns(target, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {self.name}")
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((address, port))
                    made.append(sock)
                finally:
                    libc.setns(own, CLONE_NEWNET)
            except BaseException as exc:
                made.append(exc)
            finally:
                os.close(own)
                os.close(target)

        thread = threading.Thread(target=inside, name=f"setns-{self.name}")
        thread.start()
        thread.join(timeout=10)
        if not made or isinstance(made[0], BaseException):
            raise RuntimeError(f"could not open a socket in {self.name}: {made[0] if made else 'timed out'}")
        return made[0]  # type: ignore[return-value]

    def delete(self) -> None:
        if self.created:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=COMMAND_TIMEOUT, check=False)
            self.created = False


@dataclass
class ProvisioningSegment:
    """ns `provisioning`: bridge br0 (platform_address/24), tap0 for the machine; ns `other`: a host
    on the same bridge (through a veth pair) at other_address."""

    network: str  # e.g. 198.18.0.0/24 (RFC 2544's range for test networks; never leaves the namespaces)
    platform_address: str
    other_address: str
    provisioning: Namespace = field(init=False)
    other: Namespace = field(init=False)
    hosts: list[Namespace] = field(default_factory=list)
    tap: str = "tap0"

    def __post_init__(self) -> None:
        suffix = f"{os.getpid()}-{threading.get_native_id() % 1000}"
        self.provisioning = Namespace(f"my-prov-{suffix}")
        self.other = Namespace(f"my-other-{suffix}")

    def create(self) -> ProvisioningSegment:
        prefix = self.network.split("/")[1]
        p, o = self.provisioning.create().name, self.other.create().name
        ip("-n", p, "link", "add", "br0", "type", "bridge")
        ip("-n", p, "addr", "add", f"{self.platform_address}/{prefix}", "dev", "br0")
        # An IPv6 address for router adverts: without them Debian's iPXE waits ~16 s per boot.
        ip("-n", p, "addr", "add", "fd00:5eed::1/64", "dev", "br0")
        ip("-n", p, "link", "set", "br0", "up")
        ip("-n", p, "tuntap", "add", "dev", self.tap, "mode", "tap")
        ip("-n", p, "link", "set", self.tap, "master", "br0")
        ip("-n", p, "link", "set", self.tap, "up")
        ip("-n", p, "link", "add", "veth-p", "type", "veth", "peer", "name", "veth-o", "netns", o)
        ip("-n", p, "link", "set", "veth-p", "master", "br0")
        ip("-n", p, "link", "set", "veth-p", "up")
        ip("-n", o, "addr", "add", f"{self.other_address}/{prefix}", "dev", "veth-o")
        ip("-n", o, "link", "set", "veth-o", "up")
        return self

    def add_host(self, label: str, address: str) -> Namespace:
        """Another namespace on the bridge whose only address is `address`/32 (say, a device's own
        public address once its OS runs), reaching the platform from that address."""
        host = Namespace(f"{self.provisioning.name.replace('prov', label)}").create()
        self.hosts.append(host)
        p, h, veth = self.provisioning.name, host.name, f"veth-{label}"[:15]
        ip("-n", p, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h)
        ip("-n", p, "link", "set", veth, "master", "br0")
        ip("-n", p, "link", "set", veth, "up")
        ip("-n", h, "addr", "add", f"{address}/32", "dev", "eth0")
        ip("-n", h, "link", "set", "eth0", "up")
        ip("-n", h, "route", "add", self.network, "dev", "eth0", "src", address)
        ip("-n", p, "route", "add", f"{address}/32", "dev", "br0")
        return host

    def delete(self) -> None:
        for host in self.hosts:
            host.delete()
        self.other.delete()
        self.provisioning.delete()
