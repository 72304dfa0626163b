"""`manage.py sos`: the serial console over SSH (SOS) listener. In production one per facility, beside its
workers (`--facility da11`), where the BMC network is reachable."""
from __future__ import annotations

import contextlib
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.console.sos import serve


class Command(BaseCommand):
    help = "Serve SOS: `ssh <device id>@<this host>` reaches the device's serial console (IPMI Serial-over-LAN)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.SOS_BIND, help="host:port (default METALYARD_SOS_BIND)")
        parser.add_argument("--facility", action="append", default=None,
                            help="serve only devices in this facility (repeat; default METALYARD_SOS_FACILITIES, or all)")

    def handle(self, *args: Any, **options: Any) -> None:
        def ready(port: int) -> None:
            # One line a supervisor (or a test) can wait for; the port is the real one when --bind asked for 0.
            sys.stdout.write(f"SOS listening on {options['bind'].rpartition(':')[0]}:{port}\n")
            sys.stdout.flush()

        with contextlib.suppress(KeyboardInterrupt):
            serve(options["bind"], facilities=options["facility"], ready=ready)
