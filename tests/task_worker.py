"""A real django-q2 worker for tests that must prove the whole path (a live server enqueues, a worker process runs
the task, the page shows the result): `manage.py qcluster` as a child process on the ORM broker, against the test
database this test commits to (transactional_db), as `make run` starts one. This process enqueues for real instead
of running tasks inline (METALYARD_TASKS_SYNC). The worker's process group is stopped at teardown, before the
database is flushed, or as soon as the test's process dies. The approach of tests/hardware/test_power_routing.py's
`clusters`, on the ORM broker so that it needs nothing but PostgreSQL."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[1]
STOP_SECONDS = 5
# Variables that would point the worker elsewhere than this test's database and queue.
NOT_INHERITED = ("METALYARD_TASKS_SYNC", "Q_CLUSTER_NAME", "REDIS_URL", "METALYARD_FACILITY_CLUSTERS", "DATABASE_URL")


def test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# The worker runs on a leash: a small parent, leader of its own process group, that starts `manage.py qcluster` and,
# when its stdin closes — the test is done, or the test's process died without a teardown (a timeout's SIGKILL) —
# asks the cluster to stop (SIGTERM to its main process, which stops its own children), then kills the whole group.
# So no worker outlives the test that started it, polling a database that is about to be dropped.
LEASH = """
import os, select, signal, subprocess, sys
cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"])
while cluster.poll() is None and not select.select([sys.stdin], [], [], 0.5)[0]:
    pass
if cluster.poll() is None:
    cluster.send_signal(signal.SIGTERM)
    try:
        cluster.wait(timeout=float(sys.argv[1]))
    except subprocess.TimeoutExpired:
        pass
os.killpg(0, signal.SIGKILL)
"""


class TaskWorker:
    """One `qcluster` process on its leash; `env` holds the settings it was started with."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen([sys.executable, "-c", LEASH, str(STOP_SECONDS)], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def assert_running(self) -> None:
        assert self.process.poll() is None, "the task worker exited (run `python manage.py qcluster` to see why)"

    def stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # the leash stops the cluster, then its group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS + 5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_task_worker(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> TaskWorker:
    """Switch this process to enqueueing on the ORM broker and start a worker on it; `overrides` are environment
    variables for the worker (the METALYARD_* settings the test changed in this process)."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database: PostgreSQL only")
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({"DATABASE_URL": test_database_url(), "METALYARD_DEV_KEYS": "1", "Q_WORKERS": "2", **overrides})
    return TaskWorker(env)


@pytest.fixture
def task_worker(transactional_db, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskWorker]:
    worker = start_task_worker(monkeypatch)
    try:
        yield worker
    finally:
        worker.stop()
