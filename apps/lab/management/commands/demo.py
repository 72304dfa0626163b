"""`manage.py demo`: load (or refresh) the demo provider. Idempotent: running it twice changes nothing.

Each app that has demo data exposes `apps.<app>.demo.seed(out)`; they run in INSTALLED_APPS
order, so facilities exist before hardware, hardware before IP space, and so on.
"""
from __future__ import annotations

import importlib
import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.audit.context import acting_as


class Command(BaseCommand):
    help = "Load the demo provider (organizations, users, facilities, hardware, IP space …). Safe to run again."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin-password", default=None,
                            help="Password for the staff user 'admin' (default: a new random one, printed at the end).")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        context: dict[str, Any] = {"admin_password": options["admin_password"]}
        with acting_as(None, request_id="demo"):
            for config in apps.get_app_configs():
                if not config.name.startswith("apps."):
                    continue
                try:
                    module = importlib.import_module(f"{config.name}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name == f"{config.name}.demo":
                        continue
                    raise
                step = time.monotonic()
                self.stdout.write(f"demo: {config.label} …", ending="")
                self.stdout.flush()
                with transaction.atomic():
                    summary = module.seed(out=self.stdout, context=context)
                self.stdout.write(f" {summary or 'done'} ({time.monotonic() - step:.1f} s)")
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.1f} s."))
        for line in context.get("logins", []):
            self.stdout.write(self.style.WARNING(line))
