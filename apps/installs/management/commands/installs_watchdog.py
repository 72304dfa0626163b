"""`manage.py installs_watchdog`: run the watchdog once (the worker runs it every minute)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.installs.services.workflow import installs_watchdog


class Command(BaseCommand):
    help = "Fail installs whose wait for the machine is overdue; resume steps whose worker vanished."

    def handle(self, *args: Any, **options: Any) -> None:
        result = installs_watchdog()
        self.stdout.write(f"failed {result['failed']}, resumed {result['resumed']}")
