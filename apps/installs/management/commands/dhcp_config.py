"""`manage.py dhcp_config`: write the dnsmasq configuration from the inventory and IPAM (checked by
dnsmasq itself before it replaces the one in service), or print it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.installs import dhcp


class Command(BaseCommand):
    help = "Generate the DHCP (dnsmasq) configuration: a reservation per NIC, the iPXE boot URL; check it; write it atomically."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--output", type=Path, default=None, help=f"File to write (default {settings.DHCP_CONFIG_PATH}).")
        parser.add_argument("--boot-url", default=None, help=f"iPXE entry URL (default {settings.DHCP_BOOT_URL}).")
        parser.add_argument("--print", action="store_true", help="Print the configuration instead of writing it.")
        parser.add_argument("--reload", default=None, help="Command that makes dnsmasq re-read it (default $METALYARD_DHCP_RELOAD).")

    def handle(self, *args: Any, **options: Any) -> None:
        boot_url = options["boot_url"] or settings.DHCP_BOOT_URL
        if options["print"]:
            self.stdout.write(dhcp.dnsmasq_config(boot_url=boot_url, items=dhcp.reservations()), ending="")
            return
        try:
            path = dhcp.dhcp_config_write(path=options["output"], boot_url=boot_url, reload_command=options["reload"])
        except dhcp.DHCPConfigError as exc:
            raise CommandError(str(exc)) from exc
        count = len(dhcp.reservations())
        self.stdout.write(f"wrote {path}: {count} reservation(s), accepted by dnsmasq --test")
