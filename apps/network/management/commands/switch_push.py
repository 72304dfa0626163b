"""`manage.py switch_push HOSTNAME [--reapply]`: push a switch's pending port changes now, here, and
print the outcome and the diff. `--reapply` pushes every managed port again (after drift)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.hardware.models import Switch
from apps.network import services
from apps.network.models import PushOutcome


class Command(BaseCommand):
    help = "Push a switch's pending port changes now (lock, load, check, diff, commit confirmed, verify, confirm)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("hostname")
        parser.add_argument("--reapply", action="store_true", help="Push the desired state of every managed port again.")
        parser.add_argument("--reason", default="", help="With --reapply: why, recorded on the push and in the audit log.")

    def handle(self, *args: Any, **options: Any) -> None:
        switch = Switch.objects.filter(hostname=options["hostname"]).first()
        if switch is None:
            raise CommandError(f"No switch named '{options['hostname']}'.")
        reason = options["reason"] or "manage.py switch_push"
        if options["reapply"]:
            services.switch_reapply(switch=switch, reason=reason, schedule=False)
        push = services.switch_push(switch_id=switch.pk)
        if push is None:
            self.stdout.write(f"{switch.hostname}: nothing pending (or another push is running and takes the pending changes).")
            return
        self.stdout.write(f"{switch.hostname}: push #{push.pk} {push.outcome} in {push.duration_ms or 0} ms, ports {', '.join(push.ports)}")
        if push.diff:
            self.stdout.write(push.diff.rstrip("\n"))
        if push.outcome == PushOutcome.FAILED:
            raise CommandError(f"push #{push.pk} failed at {push.error_step or 'start'}: {push.error}")
