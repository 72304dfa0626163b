"""`manage.py dhcp_config`: write the DHCP server's configuration (dnsmasq or ISC Kea) from the inventory
and IPAM — checked by the server itself before it replaces the one in service — or print it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.installs import dhcp


class Command(BaseCommand):
    help = ("Generate the DHCP configuration (dnsmasq or Kea): a reservation per NIC, the iPXE boot URL; "
            "check it with the server itself; write it atomically.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--server", choices=sorted(dhcp.SERVERS), default=None,
                            help=f"DHCP server to write for (default $METALYARD_DHCP_SERVER, now {settings.DHCP_SERVER}).")
        parser.add_argument("--output", type=Path, default=None, help="File to write (default $METALYARD_DHCP_CONFIG, "
                                                                       f"now {settings.DHCP_CONFIG_PATH}).")
        parser.add_argument("--boot-url", default=None, help=f"iPXE entry URL (default {settings.DHCP_BOOT_URL}).")
        parser.add_argument("--print", action="store_true", help="Print the configuration instead of writing it.")
        parser.add_argument("--reload", default=None, help="Command that makes the server re-read it (default $METALYARD_DHCP_RELOAD).")

    def handle(self, *args: Any, **options: Any) -> None:
        server = options["server"] or settings.DHCP_SERVER
        boot_url = options["boot_url"] or settings.DHCP_BOOT_URL
        try:
            if options["print"]:
                self.stdout.write(dhcp.config_text(server=server, boot_url=boot_url, items=dhcp.reservations()), ending="")
                return
            output = options["output"]
            if output is None and server != settings.DHCP_SERVER:
                output = settings.DHCP_CONFIG_PATH.with_name("kea-dhcp4.conf" if server == "kea" else "dnsmasq.conf")
            path = dhcp.dhcp_config_write(path=output, boot_url=boot_url, reload_command=options["reload"], server=server)
        except dhcp.DHCPConfigError as exc:
            raise CommandError(str(exc)) from exc
        count = len(dhcp.reservations())
        check = "kea-dhcp4 -t" if server == "kea" else "dnsmasq --test"
        self.stdout.write(f"wrote {path}: {count} reservation(s), accepted by {check}")
