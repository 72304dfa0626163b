"""`manage.py import_rack FILE.csv`: onboard (or update) the servers of a rack from a CSV file, all or nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.hardware.onboarding import ImportRejected, rack_import


class Command(BaseCommand):
    help = "Import servers (BMC, NICs, cabling) from a CSV file; nothing is written unless every line is correct. See docs/inventory.md."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8, first line = column names).")
        parser.add_argument("--dry-run", action="store_true", help="Check and report what would change, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text; save it as CSV UTF-8 and try again.") from exc
        try:
            result = rack_import(text=text, dry_run=options["dry_run"])
        except ImportRejected as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{path.name}: {result}"))
