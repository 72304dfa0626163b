"""`manage.py throttle_reset`: lift a login lockout (a login name's, or an address's) before its window ends."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.throttling import throttle_reset
from apps.audit.services import audit_record


class Command(BaseCommand):
    help = "Forget the failed sign-ins of a login name (--user) and/or an address (--address): the lockout ends now."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", help="login name (case does not matter)")
        parser.add_argument("--address", help="client address, e.g. 192.0.2.10")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["user"] and not options["address"]:
            raise CommandError("Say whose lockout to lift: --user NAME and/or --address IP.")
        if options["user"]:
            throttle_reset("login_username", options["user"].strip().lower())
        if options["address"]:
            throttle_reset("login_address", options["address"].strip())
        lifted = " and ".join(f"{k} {v}" for k, v in (("user", options["user"]), ("address", options["address"])) if v)
        audit_record(action="accounts.login_lockout.reset", changes={"lifted": [None, lifted]}, actor="manage.py throttle_reset")
        self.stdout.write(f"sign-in lockout lifted for {lifted}")
