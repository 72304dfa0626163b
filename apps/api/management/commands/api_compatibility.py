"""Print the Equinix Metal API v1 compatibility table (markdown) that docs/api.md carries."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.api.compat import markdown


class Command(BaseCommand):
    help = "Print which Equinix Metal API v1 operations this Metalyard serves, as a markdown table."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(markdown(), ending="")
