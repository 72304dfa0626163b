"""The SOS listener as its own process (as in production, and because pyghmi's sessions are process-wide:
the console's SOL session and this test process's IPMI power calls to the same BMC must not share them),
on the test's database, and OpenSSH's client run against it. Every process started here is stopped by pid."""
from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class SosProcess:
    def __init__(self, workdir: Path, *, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "DATABASE_URL": database_url(), "METALYARD_SOS_HOST_KEY": str(workdir / "sos_host_key"),
               "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.log = open(workdir / "sos.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "manage.py", "sos", "--bind", "127.0.0.1:0"], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        assert self.process.stdout is not None
        line = b""
        deadline = time.monotonic() + 60
        while b"SOS listening on" not in line and time.monotonic() < deadline and self.process.poll() is None:
            line = self.process.stdout.readline()
        if b"SOS listening on" not in line:
            self.stop()
            raise RuntimeError(f"the SOS listener did not start: {(workdir / 'sos.log').read_text(errors='replace')[-2000:]}")
        self.port = int(line.decode().strip().rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def make_key(directory: Path, name: str) -> tuple[Path, str]:
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(path)], check=True, timeout=30)
    return path, (directory / f"{name}.pub").read_text().strip()


class SshClient:
    """Debian's OpenSSH client in batch mode: `ssh -T -i KEY -p PORT <device id>@127.0.0.1 [command]`."""

    def __init__(self, *, key: Path, port: int, user: str, command: str = "") -> None:
        args = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-i", str(key), "-p", str(port),
                f"{user}@127.0.0.1"]
        if command:
            args.append(command)
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self._lock = threading.Lock()
        self._changed = queue.SimpleQueue[int]()
        for stream, buffer in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, buffer), daemon=True).start()

    def _pump(self, stream: Any, buffer: bytearray) -> None:
        while True:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                return
            with self._lock:
                buffer += chunk
            self._changed.put(1)

    def wait_for(self, text: bytes, *, stderr: bool = False, timeout: float = 20.0, since: int = 0) -> bool:
        """Whether `text` arrives within `timeout` seconds (in what came after the first `since` bytes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if text in (self.err if stderr else self.out)[since:]:
                    return True
            if self.process.poll() is not None and not self._drain():
                with self._lock:
                    return text in (self.err if stderr else self.out)[since:]
            with contextlib.suppress(queue.Empty):
                self._changed.get(timeout=0.2)
        return False

    def _drain(self) -> bool:
        try:
            self._changed.get(timeout=0.3)
            return True
        except queue.Empty:
            return False

    def type(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def wait(self, timeout: float = 20.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
