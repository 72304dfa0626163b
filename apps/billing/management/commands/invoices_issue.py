"""`manage.py invoices_issue --month 2026-11`: the meter. Issues every organization's invoice for a month that
is over, skipping those already issued; safe to run again at any time (also after a run that died)."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.context import acting_as
from apps.billing.rating import month_window
from apps.billing.services import invoices_issue


class Command(BaseCommand):
    help = "Issue the month's invoices (one per organization with usage or credits); idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM (UTC), e.g. 2026-11.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month_window(options["month"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        def report(org: Any, invoice: Any, error: Exception | None) -> None:
            if error is not None:
                self.stderr.write(f"{org.slug}: not issued: {error}")
            elif invoice is not None:
                self.stdout.write(f"{org.slug}: {invoice.number} {invoice.amount} {invoice.currency}")
                self.stdout.flush()

        try:
            with acting_as(None, request_id=f"invoices-{options['month']}"):
                counts = invoices_issue(month=options["month"], on_issued=report)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()))
        if counts["missing_price"]:
            raise CommandError(f"{counts['missing_price']} organization(s) not invoiced: prices are missing (see above).")
