"""`manage.py switch_drift HOSTNAME …`: read the switches' managed ports now and record any drift."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.hardware.models import Switch
from apps.network import services


class Command(BaseCommand):
    help = "Check switches for drift now: compare each managed port's running configuration with its desired state."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("hostnames", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        failed = False
        for hostname in options["hostnames"]:
            switch = Switch.objects.filter(hostname=hostname).first()
            if switch is None:
                raise CommandError(f"No switch named '{hostname}'.")
            report = services.switch_drift_check(switch_id=switch.pk)
            if report.error:
                failed = True
                self.stderr.write(f"{hostname}: {report.error}")
            elif report.skipped:
                self.stdout.write(f"{hostname}: skipped ({report.skipped})")
            else:
                self.stdout.write(f"{hostname}: {report.checked} port(s) checked; drift on: {', '.join(report.drifted) or 'none'}"
                                  + (f"; back in line: {', '.join(report.resolved)}" if report.resolved else ""))
        if failed:
            raise CommandError("Some switches could not be read; see above.")
