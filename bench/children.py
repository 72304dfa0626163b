"""What the benchmark scripts share about the processes they start (imported as a sibling module:
each script runs as `python bench/<name>.py`, which puts this folder on sys.path)."""
from __future__ import annotations

import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, *, timeout: float = 30.0) -> None:
    """Stop a child started with start_new_session=True and everything it started: SIGTERM to its
    group, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
