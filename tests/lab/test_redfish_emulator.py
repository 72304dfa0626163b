"""The lab's Redfish emulator process (apps.lab.redfish_emulator): it dies with the process that
started it, also when that one is killed with SIGKILL and cannot stop it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.bmc_fixtures import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
REPO_ROOT = Path(__file__).resolve().parents[2]

# A stand-in for `manage.py lab`: start one emulator, say its pid, then wait to be killed.
STARTER = """
import sys, time
from pathlib import Path
from apps.lab.bmc_redfish import RedfishEmulator
emulator = RedfishEmulator(username="admin", password="secret", workdir=Path(sys.argv[1])).start()
print(emulator.process.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


def test_emulator_exits_when_the_lab_is_killed(tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    emulator_pid = 0
    try:
        assert starter.stdout is not None
        emulator_pid = int(starter.stdout.readline())  # bounded by the test timeout
        assert alive(emulator_pid)
        starter.send_signal(signal.SIGKILL)  # no clean-up code runs in the starter
        starter.wait(timeout=10)
        assert wait_for(lambda: not alive(emulator_pid), timeout=10.0, interval=0.2), "the emulator outlived the lab"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait(timeout=10)
        if emulator_pid and alive(emulator_pid):
            os.kill(emulator_pid, signal.SIGKILL)
