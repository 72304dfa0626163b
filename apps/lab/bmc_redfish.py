"""The lab's Redfish BMCs: one `sushy-emulator --fake` process per BMC, over HTTPS with a self-signed
certificate made here, password-protected, state kept in its own TMPDIR. Its fake driver applies a
power change 1–11 s after the request (by design); callers wait for the state, bounded.

Misbehaving: `silent` stops the process (SIGSTOP: connections are accepted by the kernel and never
answered, like a hung BMC), `reject_password` replaces the password it accepts, `slow` answers every
request after a delay (apps.lab.redfish_emulator, which runs sushy-tools' emulator)."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.lab import redfish_emulator

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
MODES = ("ok", "silent", "reject_password", "slow")
DEFAULT_SLOW_DELAY = 3.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def make_self_signed(directory: Path, *, common_name: str = "metalyard-lab-bmc") -> tuple[Path, Path, str]:
    """Write cert.pem and key.pem into directory; return their paths and the SHA-256 fingerprint
    (64 hex digits, the form the BMC record stores) of the certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_path, key_path, fingerprint


def _free_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@dataclass
class RedfishEmulator:
    """One emulated Redfish BMC (one computer system). start() returns once it answers HTTPS."""

    username: str
    password: str
    name: str = "lab-system"
    address: str = "127.0.0.1"
    power: str = "Off"
    notify_url: str = ""  # the lab's listener for power-on notifications (apps.lab.bmc)
    workdir: Path | None = None
    port: int = 0
    fingerprint: str = ""
    system_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    system_serial: str = ""  # the machine's serial number, served as the system's SerialNumber
    mode: str = "ok"
    delay: float = 0.0
    process: subprocess.Popen | None = None
    _own_workdir: bool = False

    def start(self) -> RedfishEmulator:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="metalyard-redfish-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert, key, self.fingerprint = make_self_signed(self.workdir)
        self._write_auth(self.password)
        config = self.workdir / "emulator.conf"
        system = {
            "uuid": self.system_uuid,
            "name": self.name,
            "power_state": self.power,
            "external_notifier": bool(self.notify_url),
            "nics": [],
        }
        config.write_text(
            f"SUSHY_EMULATOR_AUTH_FILE = {str(self.workdir / 'htpasswd')!r}\n"
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {[system]!r}\n"
            + (f"EXTERNAL_NOTIFICATION_URL = {self.notify_url!r}\n" if self.notify_url else "")
        )
        self._write_delay(0.0)
        env = {**os.environ, "TMPDIR": str(self.workdir), "PYTHONUNBUFFERED": "1",
               redfish_emulator.DELAY_FILE_ENV: str(self._delay_file), redfish_emulator.PARENT_ENV: str(os.getpid()),
               redfish_emulator.SERIAL_ENV: self.system_serial}
        env.pop("SUSHY_EMULATOR_CONFIG", None)
        last_error = ""
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = self.port or _free_port(self.address)
            log = (self.workdir / "emulator.log").open("ab")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "apps.lab.redfish_emulator", "--fake", "--config", str(config), "-i", self.address, "-p", str(self.port),
                 "--ssl-certificate", str(cert), "--ssl-key", str(key)],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
            log.close()
            try:
                self._wait_ready()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self._kill()
                self.port = 0
        raise RuntimeError(f"sushy-emulator did not start: {last_error}; see {self.workdir / 'emulator.log'}")

    def _wait_ready(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with status {self.process.returncode}")
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as raw, context.wrap_socket(raw) as tls:
                    tls.sendall(b"GET /redfish/v1/ HTTP/1.0\r\nHost: lab\r\n\r\n")
                    if tls.recv(12).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no HTTPS answer on {self.address}:{self.port} within {START_TIMEOUT:g} s")

    def _write_auth(self, password: str) -> None:
        assert self.workdir is not None
        digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (self.workdir / "htpasswd").write_text(f"{self.username}:{digest}\n")

    @property
    def _delay_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "delay"

    def _write_delay(self, seconds: float) -> None:
        # Written whole then renamed: the emulator reads it on every request.
        partial = self._delay_file.with_suffix(".new")
        partial.write_text(f"{seconds}\n")
        partial.replace(self._delay_file)

    def set_mode(self, mode: str, *, delay: float | None = None) -> None:
        """`slow` answers every request `delay` seconds late (default 3 s); other modes answer at once."""
        if mode not in MODES:
            raise ValueError(f"a Redfish lab BMC can be {', '.join(MODES)}")
        assert self.process is not None
        self.delay = (DEFAULT_SLOW_DELAY if delay is None else delay) if mode == "slow" else 0.0
        self._write_delay(self.delay)
        if self.mode == "silent" and mode != "silent":
            os.kill(self.process.pid, signal.SIGCONT)
        if mode == "silent":
            os.kill(self.process.pid, signal.SIGSTOP)
        # The emulator reads its password file on every request.
        self._write_auth(self.password + "-not-this-one" if mode == "reject_password" else self.password)
        self.mode = mode

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        self._kill()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
