"""`manage.py price_set --kind device --plan c3.small.x86 [--metro da] --amount 1.50 --from 2026-12-01`: add a
dated entry to the price book (`--list` shows the book)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit.context import acting_as
from apps.billing.models import Price, PriceKind
from apps.billing.services import price_set
from apps.facilities.models import Metro
from apps.hardware.models import Plan


class Command(BaseCommand):
    help = "Add a price to the price book, in force from a date (UTC) on; or list the book."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", action="store_true", help="Show the price book and exit.")
        parser.add_argument("--kind", choices=PriceKind.values)
        parser.add_argument("--plan", help="Plan slug (device and reserved_hardware prices).")
        parser.add_argument("--metro", help="Metro code; without it the price holds in every metro without its own.")
        parser.add_argument("--amount", help="Per hour (per address-hour for public IPv4; per month for reserved hardware).")
        parser.add_argument("--from", dest="valid_from", help="Date or date-time (UTC) the price starts, e.g. 2026-12-01.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            for price in Price.objects.select_related("plan", "metro"):
                self.stdout.write(str(price))
            return
        missing = [name for name in ("kind", "amount", "valid_from") if not options[name]]
        if missing:
            raise CommandError(f"Missing: {', '.join('--' + ('from' if m == 'valid_from' else m) for m in missing)}.")
        try:
            amount = Decimal(options["amount"])
        except InvalidOperation:
            raise CommandError(f"--amount '{options['amount']}' is not a number.") from None
        raw = options["valid_from"]
        valid_from = parse_datetime(raw) or (dt.datetime.combine(parse_date(raw), dt.time(), tzinfo=dt.UTC) if parse_date(raw) else None)
        if valid_from is None:
            raise CommandError(f"--from '{raw}' is not a date (YYYY-MM-DD) or date-time.")
        if valid_from.tzinfo is None:
            valid_from = valid_from.replace(tzinfo=dt.UTC)
        plan = metro = None
        if options["plan"]:
            plan = Plan.objects.filter(slug=options["plan"]).first()
            if plan is None:
                raise CommandError(f"No plan '{options['plan']}'.")
        if options["metro"]:
            metro = Metro.objects.filter(code=options["metro"]).first()
            if metro is None:
                raise CommandError(f"No metro '{options['metro']}'.")
        try:
            with acting_as(None, request_id="price_set"):
                price = price_set(kind=options["kind"], amount=amount, valid_from=valid_from, plan=plan, metro=metro)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"added: {price}")
