"""The console server's database threads (apps/console/db.py) recover from a connection PostgreSQL dropped (a
restart, a failover), and the server closes their connections when it stops."""
from __future__ import annotations

import asyncio

import pytest
from django.db import OperationalError, connection

from apps.console.db import DB_THREADS, database_threads, db
from tests.installs.lab_site import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate_elsewhere(pids: set[int]) -> None:
    """As a PostgreSQL restart would: end those backends (from a thread of its own, with a connection of its own)."""
    try:
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        connection.close()


def test_a_dropped_connection_fails_one_call_and_the_next_call_reconnects():
    async def scenario() -> tuple[set[int], int, set[int]]:
        async with database_threads():
            # As many calls at once as threads: every database thread connects.
            before = set(await asyncio.gather(*(db(_backend_pid)() for _ in range(DB_THREADS * 4))))
            await asyncio.to_thread(_terminate_elsewhere, before)
            failures, after = 0, set()
            for _ in range(DB_THREADS * 4):  # each thread meets its dropped connection at most once
                try:
                    after.add(await db(_backend_pid)())
                except OperationalError:
                    failures += 1
        return before, failures, after

    before, failures, after = asyncio.run(scenario())
    assert failures <= len(before), failures  # a bare sync_to_async thread fails every call from now on
    assert after and not after & before, (before, after)


def test_stopping_closes_every_database_threads_connection():
    async def scenario() -> set[int]:
        async with database_threads():
            return set(await asyncio.gather(*(db(_backend_pid)() for _ in range(DB_THREADS * 4))))

    pids = asyncio.run(scenario())
    assert len(pids) == DB_THREADS

    def still_there() -> list[tuple[int]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            return cursor.fetchall()

    # A closed connection's backend exits on its own a moment later.
    assert wait_for(lambda: not still_there(), timeout=5.0), still_there()
