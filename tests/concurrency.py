"""Run a test's body in N threads at once, each on its own database connection (the concurrency tests)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import OperationalError, connections


def connect_with_patience() -> None:
    """Open this thread's own connection before the start line. Other suites share the server, so a
    full connection table is waited out (bounded) rather than counted as a failure of the test."""
    deadline = time.monotonic() + 45
    while True:
        try:
            connections["default"].ensure_connection()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            connections["default"].close()
            time.sleep(0.25)


def run_concurrently(target: Callable[..., None], count: int, *, prepare: Callable[[int], Any] | None = None) -> list[BaseException]:
    """`target(index)` in `count` threads released together by a barrier; with `prepare`, each thread first
    computes `prepare(index)` on its own connection (before the barrier) and calls `target(index, prepared)`.
    Returns what the threads raised; fails if one hangs."""
    barrier = threading.Barrier(count, timeout=90)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            connect_with_patience()
            if prepare is None:
                barrier.wait()
                target(index)
            else:
                prepared = prepare(index)
                barrier.wait()
                target(index, prepared)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)
        finally:
            connections.close_all()  # each thread opened its own connection

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors
