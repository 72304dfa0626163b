"""The facility's console server (`manage.py sos`): the SOS listener (SSH) and the browser console's websockets
(ASGI on uvicorn, apps.console.asgi) in one process and one event loop, sharing one ConsoleHub — a BMC
allows one SOL client, so the SSH and browser users of a device must be seated on the same connection.
SIGTERM or SIGINT closes both: open sessions are closed and audited before the process exits."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from django.conf import settings

from apps.console.db import database_threads
from apps.console.sos import SosListener
from apps.console.web import shared_hub

log = logging.getLogger(__name__)


class ConsoleWebServer(uvicorn.Server):
    """uvicorn, without its own signal handling (the console server stops the SSH and the web side together)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _split(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def web_server(bind: str, *, forwarded_allow_ips: str | None = None) -> ConsoleWebServer:
    from apps.console.asgi import application

    host, port = _split(bind)
    config = uvicorn.Config(application, host=host, port=port, ws="websockets-sansio", lifespan="off", log_level="warning",
                            access_log=False, proxy_headers=True, ws_max_size=64 * 1024,
                            forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1")
    return ConsoleWebServer(config)


async def run(*, sos_bind: str, web_bind: str | None, facilities: list[str] | None = None,
              ready: Callable[[int, int | None], None] | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT when run in the main thread), the database work on threads
    whose connections are closed when it stops (apps/console/db.py)."""
    async with database_threads():
        await _serve(sos_bind=sos_bind, web_bind=web_bind, facilities=facilities, ready=ready, stop=stop)


async def _serve(*, sos_bind: str, web_bind: str | None, facilities: list[str] | None,
                 ready: Callable[[int, int | None], None] | None, stop: asyncio.Event | None) -> None:
    facilities = list(facilities if facilities is not None else settings.SOS_FACILITIES)
    listener = SosListener(facilities=facilities)
    listener.hub = shared_hub(facilities=facilities)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
            loop.add_signal_handler(signum, stop.set)
    host, port = _split(sos_bind)
    sos_port = await listener.start(host, port)
    web: ConsoleWebServer | None = None
    web_task: asyncio.Task[Any] | None = None
    web_port = None
    if web_bind:
        web = web_server(web_bind, forwarded_allow_ips=settings.CONSOLE_FORWARDED_ALLOW_IPS)
        web_task = asyncio.ensure_future(web.serve())
        while not web.started and not web_task.done():
            await asyncio.sleep(0.02)
        if web_task.done():
            await listener.close()
            web_task.result()  # raises why it could not start (the port is taken, …)
            raise RuntimeError(f"the console's web server on {web_bind} stopped at start")
        web_port = web.servers[0].sockets[0].getsockname()[1]
    log.info("console server: SOS on %s:%s, websockets on %s", host, sos_port, web_port)
    if ready is not None:
        ready(sos_port, web_port)
    try:
        await stop.wait()
    finally:
        if web is not None and web_task is not None:
            web.should_exit = True
            await web_task
        await listener.close()
