"""The console server's database calls (`manage.py sos`: the SOS listener, the browser console's websockets).

The server is one asyncio loop; its database work runs on threads. Each call checks the thread's connection before
and after (channels' DatabaseSyncToAsync runs close_old_connections around it), as a web request does: a connection
broken by a PostgreSQL restart or failover is replaced on the next call, where a bare sync_to_async thread kept
reusing it and failed every console open until the process restarted. While `run()` serves, the calls go to a
small pool of its own (`database_threads()`), and when it stops every one of those threads closes its connection,
so a stopped server leaves no session behind (a test's database can then be dropped). Outside it (a test driving
the hub directly) they go to the loop's default executor, whose threads end with the loop."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.db import connections

DB_THREADS = 4  # console opens, access re-checks and scrollback flushes: short statements, a few at a time
CLOSE_WAIT_SECONDS = 10.0
_serving: list[ThreadPoolExecutor] = []  # the running server's pool (run() is one per process)


def db(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as a coroutine function, run on the server's database threads."""
    return DatabaseSyncToAsync(fn, thread_sensitive=False, executor=_serving[-1] if _serving else None)


@contextlib.asynccontextmanager
async def database_threads() -> AsyncIterator[None]:
    """The server's database threads for as long as it serves; their connections are closed when it stops, and so
    is the one of channels' own thread (the websockets' session and user lookups)."""
    executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="console-db")
    _serving.append(executor)
    try:
        yield
    finally:
        _serving.remove(executor)
        barrier = threading.Barrier(DB_THREADS, timeout=CLOSE_WAIT_SECONDS)

        def close_this_threads() -> None:
            # One task per thread: each waits here until every thread holds one. A thread busy past the wait breaks
            # the barrier; its connection is then closed when the thread ends.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            connections.close_all()

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(executor, close_this_threads) for _ in range(DB_THREADS)))
        executor.shutdown(wait=False)
        await database_sync_to_async(connections.close_all)()
