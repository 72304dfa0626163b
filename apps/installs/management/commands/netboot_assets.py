"""`manage.py netboot_assets`: put the installer kernel and initramfs where the platform serves them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.installs.installer.initramfs import build_assets
from apps.installs.installer.kernel import NetbootToolError


class Command(BaseCommand):
    help = "Fetch the cloud kernel (cached) and build the busybox installer initramfs into the netboot assets directory."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dir", type=Path, default=None, help=f"Target directory (default {settings.NETBOOT_ASSETS_DIR}).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            assets = build_assets(options["dir"] or Path(settings.NETBOOT_ASSETS_DIR))
        except NetbootToolError as exc:
            raise CommandError(str(exc)) from exc
        for name, path in assets.items():
            self.stdout.write(f"{name}: {path} ({path.stat().st_size} bytes)")
