"""`manage.py spot_market`: the spot prices now per metro and plan; `--check` runs the market's minute once (record
prices, give outbid spot devices their notice, deprovision the expired, top requests up), as the schedule does."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.audit.context import acting_as
from apps.installs.services import spot


class Command(BaseCommand):
    help = "Show the spot prices; with --check, run the spot market's periodic check once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Run spot_market_check once and print what it did.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            with acting_as(None, request_id="spot_market"):
                counts = spot.spot_market_check()
            self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()))
        for metro, plan, price in spot.spot_prices_now():
            self.stdout.write(f"{metro.code:<6} {plan.slug:<20} {price}")
