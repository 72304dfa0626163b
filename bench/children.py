"""What the benchmark scripts share about the processes they start (imported as a sibling module:
each script runs as `python bench/<name>.py`, which puts this folder on sys.path)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, *, timeout: float = 30.0) -> None:
    """Stop a child started with start_new_session=True and everything it started: SIGTERM to the child itself
    (gunicorn's arbiter and django-q2's cluster stop their own workers in a few seconds; a SIGTERM to the whole
    group killed the cluster's sentinel under it and the cluster then hung for the whole timeout), then SIGKILL
    to whatever of its group is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


def lower_priority(pid: int, nice: int) -> None:
    """Give a child (started with start_new_session=True) a lower CPU priority.

    The process's own niceness alone is not enough here: with the kernel's autogroup scheduling
    (`/proc/sys/kernel/sched_autogroup_enabled`, on by default for tasks outside a cgroup of their
    own), every session is a scheduling group and the CPU is shared fairly between groups whatever
    their processes' niceness; a group's weight is set through `/proc/<pid>/autogroup`."""
    if nice <= 0:
        return
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    try:
        with open(f"/proc/{pid}/autogroup", "w") as autogroup:
            autogroup.write(str(nice))
    except OSError:
        pass  # no autogroup scheduling (or not allowed): the process niceness is what counts
