"""`manage.py lab`: run the emulated hardware for the demo (BMCs, switches, netbooting machines)
on loopback until stopped. Each kind registers itself in apps.lab.registry."""
from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from apps.lab import registry


class Command(BaseCommand):
    help = "Run the lab's emulated hardware (loopback only) until Ctrl-C."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        running = registry.start_all(out=self.stdout, stop_requested=stop.is_set)
        self.stdout.write(self.style.SUCCESS(f"lab: {len(running)} emulator group(s) running on loopback"))
        stop.wait()
        registry.stop_all(running, out=self.stdout)
