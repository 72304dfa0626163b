"""`manage.py install_timeline`: the timeline of the latest installs (or one device's), step by step."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.installs.models import Install
from apps.installs.selectors import install_percentage, install_timeline


class Command(BaseCommand):
    help = "Show install runs with their provisioning events and how long each step took."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--device", default=None, help="Hostname or id of a device.")
        parser.add_argument("--limit", type=int, default=5)

    def handle(self, *args: Any, **options: Any) -> None:
        runs = Install.objects.select_related("device", "server").order_by("-created_at")
        if options["device"]:
            key = options["device"]
            runs = runs.filter(device__hostname=key) if "-" not in key or len(key) != 36 else runs.filter(device_id=key)
        shown = 0
        for install in runs[: options["limit"]]:
            shown += 1
            who = install.device.hostname if install.device else (install.server.serial if install.server else "?")
            self.stdout.write(f"{install.kind} {install.pk} {who}: {install.state} at {install.step}, "
                              f"{install_percentage(install)}% {install.failure_reason}")
            for entry in install_timeline(install):
                self.stdout.write(f"  +{entry.seconds_since_start:8.2f} s  ({entry.took:6.2f} s)  {entry.type:<20} {entry.body}")
        if not shown:
            self.stdout.write("no installs yet")
