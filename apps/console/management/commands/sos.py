"""`manage.py sos`: the facility's console server — the serial console over SSH (SOS) and the browser console's
websockets (apps.console.server). In production one per facility, beside its workers (`--facility da11`), where
the BMC network is reachable; the site's proxy sends /ws/ to its web side."""
from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.console.server import run

# Two threads share the interpreter here: the event loop (SSH, websockets) and the SOL pump (every BMC packet). With
# Python's default switch interval (5 ms) a packet the pump was woken for waited up to that long for the loop to let
# go of the interpreter, at each hop: bench/console.py, 100 sessions typing 5 keys/s each, load 5-6, the echo's
# p99 was 180 ms at 5 ms and 60-78 ms at 1 ms (the direct consoles' 16-49 ms beside it).
SWITCH_INTERVAL_SECONDS = 0.001


class Command(BaseCommand):
    help = ("Serve the serial consoles: `ssh <device id>@<this host>` (SOS, IPMI Serial-over-LAN) and the device page's "
            "console tab (websockets under /ws/).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.SOS_BIND, help="SSH host:port (default METALYARD_SOS_BIND)")
        parser.add_argument("--web-bind", default=settings.CONSOLE_WEB_BIND,
                            help="the browser console's websockets, host:port (default METALYARD_CONSOLE_WEB_BIND; "
                                 "empty or 'none': SSH only)")
        parser.add_argument("--facility", action="append", default=None,
                            help="serve only devices in this facility (repeat; default METALYARD_SOS_FACILITIES, or all)")

    def handle(self, *args: Any, **options: Any) -> None:
        sos_host = options["bind"].rpartition(":")[0]
        web_bind = None if options["web_bind"] in ("", "none") else options["web_bind"]

        def ready(sos_port: int, web_port: int | None) -> None:
            # Lines a supervisor (or a test) can wait for; the ports are the real ones when a bind asked for 0.
            sys.stdout.write(f"SOS listening on {sos_host}:{sos_port}\n")
            if web_port is not None:
                sys.stdout.write(f"console websockets on {web_bind.rpartition(':')[0]}:{web_port}\n")
            sys.stdout.flush()

        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(sos_bind=options["bind"], web_bind=web_bind, facilities=options["facility"], ready=ready))
