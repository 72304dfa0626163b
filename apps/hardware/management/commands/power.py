"""`manage.py power`: BMC power from the command line, through the same services as the admin —
run an action on servers now, read or sync power states, and install the scheduled sync."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.hardware import power
from apps.hardware.models import Server
from apps.hardware.power_models import PowerAction
from apps.hardware.tasks import power_sync_schedule


class Command(BaseCommand):
    help = "BMC power: `power sync [--facility da11]`, `power schedule [--minutes 10]`, `power <action> SERIAL…`."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("what", help=f"sync, schedule, or an action: {', '.join(a.value for a in PowerAction if a != 'sync')}")
        parser.add_argument("serials", nargs="*", help="server serial numbers (for an action)")
        parser.add_argument("--facility", help="sync only this facility (code)")
        parser.add_argument("--minutes", type=int, help="schedule: minutes between syncs (default METALYARD_BMC_SYNC_MINUTES)")
        parser.add_argument("--timeout", type=float, help="seconds per BMC call (default METALYARD_BMC_TIMEOUT)")

    def handle(self, *args: Any, **options: Any) -> None:
        what = options["what"]
        if what == "sync":
            report = power.power_state_sync(facility_code=options["facility"], timeout=options["timeout"], source="command")
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        if what == "schedule":
            schedules = power_sync_schedule(minutes=options["minutes"])
            for schedule in schedules:
                self.stdout.write(f"{schedule.name}: every {schedule.minutes} min on cluster {schedule.cluster or '(default)'}")
            self.stdout.write(self.style.SUCCESS(f"{len(schedules)} power-state sync schedule(s) in place"))
            return
        if what not in PowerAction.values or what == PowerAction.SYNC:
            raise CommandError(f"unknown power command {what!r}: use sync, schedule or one of {', '.join(PowerAction.values)}")
        if not options["serials"]:
            raise CommandError("name the servers by serial number, e.g. `python manage.py power cycle SN000123`")
        for serial in options["serials"]:
            server = Server.objects.filter(serial=serial).first()
            if server is None:
                raise CommandError(f"no server with serial {serial}")
            try:
                event = power.server_power(server=server, action=what, source="command", timeout=options["timeout"])
            except power.NoUsableBmc as exc:
                raise CommandError(str(exc)) from exc
            state = f", power {event.power_state}" if event.power_state else ""
            self.stdout.write(f"{serial}: {event.action} {event.outcome} in {event.duration_ms} ms (attempt {event.attempt}{state})"
                              + (f" — {event.message}" if event.message else ""))
