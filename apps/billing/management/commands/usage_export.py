"""`manage.py usage_export --month 2026-11 --format csv|jsonl [--output FILE]`: a month's rated usage for a
provider's own billing system (the staff API's /api/billing/usage-export gives the same)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.billing.selectors import EXPORT_FORMATS, usage_export


class Command(BaseCommand):
    help = "Write a month's priced usage (every organization) as CSV or JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM (UTC), e.g. 2026-11.")
        parser.add_argument("--format", default="csv", help=f"One of: {', '.join(EXPORT_FORMATS)}.")
        parser.add_argument("--output", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            body = usage_export(month=options["month"], format=options["format"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["output"]:
            Path(options["output"]).write_text(body)
            self.stderr.write(f"wrote {body.count(chr(10))} lines to {options['output']}")
        else:
            self.stdout.write(body, ending="")
