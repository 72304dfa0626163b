"""Every command shown in README.md and docs/ is executed here, so the docs cannot rot.

Commands are the `$ ` lines of ```console blocks. Each documentation page runs in order in a
fresh environment: its own SQLite database (migrated, demo loaded), DEBUG=1 and METALYARD_DEV_KEYS=1
(unless a command sets its own), `python` being the
project's venv. Long-running commands (servers, workers, the lab) are started, checked to be
serving, stopped with Ctrl-C (SIGINT) and must exit cleanly. Addresses and database names are
rewritten to free ports and throw-away databases so that tests never collide with a real install.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Commands that are the test suite itself: CI runs them (`.ci/run` calls `make test`).
SELF = {"make test"}
# Long-running commands: (pattern, what says it is up).
DAEMONS: list[tuple[re.Pattern[str], str]] = [
    # make run is up when the admin answers and the lab's emulated hardware is running.
    (re.compile(r"(^|\s)make run(\s|$)"), "http+output:emulator group(s) running"),
    (re.compile(r"manage\.py devserver"), "http+output:emulator group(s) running"),
    # The provisioning listener serves only machine endpoints: it is up when its /healthz answers.
    (re.compile(r"(^|\s)gunicorn\s+project\.provisioning_wsgi"), "healthz"),
    (re.compile(r"(^|\s)gunicorn\s"), "http"),
    (re.compile(r"manage\.py qcluster"), "output:running"),
    (re.compile(r"manage\.py lab(\s|$)"), "output:lab:"),
    (re.compile(r"manage\.py sos(\s|$)"), "output:SOS listening on"),
]
POSTGRES_HINTS = ("postgres://", "createdb", "dropdb", "psql ")
DAEMON_START_TIMEOUT = 180  # the README promises the admin login within 3 minutes
STOP_TIMEOUT = 150  # longer than devserver's own grace for its children (two rounds of 60 s)
COMMAND_TIMEOUT = 300
# A documented command that runs tests (docs/portal.md regenerates its pictures with the browser tests, which create
# their own database and install a server in the lab) gets most of the page's budget: on a loaded machine it takes
# longer than any other command.
TEST_COMMAND_TIMEOUT = 720


def doc_commands(path: Path) -> list[str]:
    commands, in_console = [], False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_console = stripped == "```console"
            continue
        if in_console and stripped.startswith("$ "):
            commands.append(stripped[2:])
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the demo loaded, copied for each page. Built once per run: the pytest-xdist
    workers share their base temporary directory's parent, and the first one to take the lock builds it (a
    minute of migrate and demo on a loaded machine) while the other waits."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    data, building = shared / "docs-template", shared / f"docs-template-building-{os.getpid()}"
    with open(shared / "docs-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not data.is_dir():
            building.mkdir()
            env = base_env(building)
            for argv in (["manage.py", "migrate", "--noinput", "-v0"], ["manage.py", "demo", "--admin-password", "docs-test-pw"]):
                subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, check=True, timeout=COMMAND_TIMEOUT, capture_output=True)
            building.rename(data)
    return data


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "METALYARD_TASKS_SYNC", "SECRET_KEY"}}
    env.update({"DEBUG": "1", "METALYARD_DEV_KEYS": "1", "METALYARD_DATA_DIR": str(data_dir), "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                # make run starts the SOS listener too: on a port of its own, never a real install's 2222.
                "METALYARD_SOS_BIND": f"127.0.0.1:{free_port()}",
                # and the browser console's websockets beside it: never a real install's 8002 either.
                "METALYARD_CONSOLE_WEB_BIND": f"127.0.0.1:{free_port()}"})
    return env


class Rewriter:
    """Maps the docs' fixed addresses and database names to this test's own."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch  # where a command that writes into docs/ writes instead (the docs' files are committed)
        self.outputs: list[Path] = []
        self.port = free_port()
        self.provisioning_port = free_port()
        self.sos_port = free_port()
        self.console_web_port = free_port()
        self.db_name = f"metalyard_docs_{uuid.uuid4().hex[:8]}"
        self.created_db = False

    def __call__(self, command: str) -> str:
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        command = command.replace("127.0.0.1:8001", f"127.0.0.1:{self.provisioning_port}")
        command = command.replace("127.0.0.1:2222", f"127.0.0.1:{self.sos_port}")
        command = command.replace("127.0.0.1:8002", f"127.0.0.1:{self.console_web_port}")
        if re.search(r"(^|\s)make run(\s|$)", command):
            command += f" ADDR=127.0.0.1:{self.port} PROVISIONING_ADDR=127.0.0.1:{self.provisioning_port}"
        command = re.sub(r"(postgres://[^\s/]+/)metalyard\b", rf"\g<1>{self.db_name}", command)
        command = re.sub(r"\b(createdb|dropdb)(.*)\smetalyard\b", rf"\1\2 {self.db_name}", command)
        if "createdb" in command:
            self.created_db = True
        for match in re.finditer(r"(?<=[=\s])docs/images/\S+", command):
            output = self.scratch / match.group(0)
            self.outputs.append(output)
            command = command.replace(match.group(0), str(output))
        if "manage.py devserver" in command and "--addr" not in command:
            command += f" --addr 127.0.0.1:{self.port}"
        if "manage.py devserver" in command and "--provisioning-addr" not in command:
            command += f" --provisioning-addr 127.0.0.1:{self.provisioning_port}"
        return command


def run_daemon(command: str, readiness: str, env: dict[str, str], port: int, log: Path) -> None:
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            if readiness == "healthz":
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                        ready = response.status == 200
                except OSError:
                    ready = False
            elif readiness.startswith("http"):
                try:
                    path = "/admin/login/"
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                        body = response.read().decode()
                        ready = response.status == 200 and "csrfmiddlewaretoken" in body
                except OSError:
                    ready = False
                if ready and "+output:" in readiness:
                    ready = readiness.split("+output:", 1)[1] in log.read_text(errors="replace")
            else:
                ready = readiness.split(":", 1)[1] in log.read_text(errors="replace")
            if ready:
                break
            time.sleep(0.5)
        assert proc.poll() is None, f"`{command}` exited early:\n{log.read_text(errors='replace')[-3000:]}"
        assert ready, f"`{command}` did not come up within {DAEMON_START_TIMEOUT} s:\n{log.read_text(errors='replace')[-3000:]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                pytest.fail(f"`{command}` did not stop within {STOP_TIMEOUT} s of Ctrl-C")
    # Everything it started must be gone too (its process group).
    try:
        os.killpg(proc.pid, 0)
        leftovers = True
    except ProcessLookupError:
        leftovers = False
    if leftovers:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not leftovers, f"`{command}` left processes running after Ctrl-C"
    assert "did not stop" not in log.read_text(errors="replace"), f"`{command}` had to kill a child that ignored Ctrl-C:\n{log.read_text()[-2000:]}"
    if readiness.startswith("http") or readiness == "healthz":
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"`{command}` still serves on port {port} after Ctrl-C"


def test_docs_have_commands():
    assert "make run" in doc_commands(ROOT / "README.md")
    assert "make test" in doc_commands(ROOT / "README.md")
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^exec make test$", ci, re.M), ".ci/run must call exactly the README's test command"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


@pytest.mark.slow
# A page runs several commands, each bounded by COMMAND_TIMEOUT; the suite-wide 300 s would cut a page of
# short benchmarks on a loaded machine.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_run(doc: Path, demo_template: Path, tmp_path: Path) -> None:
    commands = doc_commands(doc)
    if not commands:
        pytest.skip(f"{doc.name} shows no commands")
    data = tmp_path / "data"
    shutil.copytree(demo_template, data)
    env = base_env(data)
    rewrite = Rewriter(tmp_path / "scratch")
    committed_pictures = _pictures()
    skipped: list[str] = []
    try:
        for index, original in enumerate(commands):
            if original in SELF:
                continue
            if any(h in original for h in POSTGRES_HINTS) and not settings.IS_POSTGRES:
                skipped.append(original)
                continue
            command = rewrite(original)
            daemon = next((kind for pattern, kind in DAEMONS if pattern.search(command)), None)
            if daemon:
                port = rewrite.provisioning_port if daemon == "healthz" else rewrite.port
                run_daemon(command, daemon, env, port, tmp_path / f"cmd{index}.log")
                continue
            timeout = TEST_COMMAND_TIMEOUT if "-m pytest" in command else COMMAND_TIMEOUT
            result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
            assert result.returncode == 0, (
                f"{doc.name}: `{original}` failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    finally:
        if rewrite.created_db:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", rewrite.db_name],
                           capture_output=True, timeout=60)
    # A command that writes pictures wrote them where it was told, and the committed ones are as they were.
    for output in rewrite.outputs:
        assert output.is_dir() and any(output.iterdir()), f"{doc.name}: nothing was written to {output}"
    assert _pictures() == committed_pictures, f"{doc.name}: a command changed files under docs/images"
    if skipped:
        pytest.skip(f"needs PostgreSQL for: {skipped}")


def _pictures() -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(ROOT)): (p.stat().st_size, p.stat().st_mtime_ns) for p in (ROOT / "docs" / "images").rglob("*") if p.is_file()}
