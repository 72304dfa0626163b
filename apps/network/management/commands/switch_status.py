"""`manage.py switch_status [HOSTNAME …]`: managed ports, pending changes, open drift and the last push per switch."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, F, OuterRef, Q, Subquery

from apps.hardware.models import Switch
from apps.network.models import ConfigPush


class Command(BaseCommand):
    help = "Show each switch's managed ports, pending changes, open drift and last push."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("hostnames", nargs="*", help="Only these switches (default: every switch with managed ports).")

    def handle(self, *args: Any, **options: Any) -> None:
        last = ConfigPush.objects.filter(switch=OuterRef("pk")).order_by("-started_at", "-pk")
        switches = Switch.objects.select_related("facility").annotate(
            managed=Count("port_configs", distinct=True),
            pending=Count("port_configs", filter=Q(port_configs__desired_version__gt=F("port_configs__applied_version")), distinct=True),
            drift=Count("drifts", filter=Q(drifts__resolved_at__isnull=True), distinct=True),
            last_push=Subquery(last.values("pk")[:1]), last_outcome=Subquery(last.values("outcome")[:1]),
            last_at=Subquery(last.values("started_at")[:1]),
        ).order_by("hostname")
        if options["hostnames"]:
            switches = switches.filter(hostname__in=options["hostnames"])
            missing = set(options["hostnames"]) - {s.hostname for s in switches}
            if missing:
                self.stderr.write(f"Unknown switch(es): {', '.join(sorted(missing))}")
        else:
            switches = switches.filter(managed__gt=0)
        self.stdout.write(f"{'switch':<20} {'facility':<9} {'managed':>7} {'pending':>7} {'drift':>5}  last push")
        for sw in switches:
            pushed = f"#{sw.last_push} {sw.last_outcome} {sw.last_at:%Y-%m-%d %H:%M} UTC" if sw.last_push else "never"
            self.stdout.write(f"{sw.hostname:<20} {sw.facility.code:<9} {sw.managed:>7} {sw.pending:>7} {sw.drift:>5}  {pushed}")
