"""`manage.py provisioning_server`: serve the provisioning listener (only the endpoints machines call)
with Django's threaded development server, as `make run` does. In production run
`gunicorn project.provisioning_wsgi --bind <the provisioning VLAN's address>` instead."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import get_internal_wsgi_application, run

from project.listeners import ProvisioningListener


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"give the address as HOST:PORT (got {address!r})")
    return host.strip("[]"), int(port)


class Command(BaseCommand):
    help = "Serve the provisioning network's endpoints (iPXE, metadata, phone-home …) on their own address."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default=settings.PROVISIONING_BIND, help="HOST:PORT (default METALYARD_PROVISIONING_BIND)")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = split_address(options["addr"])
        self.stdout.write(f"provisioning listener on http://{options['addr']}/ (machine endpoints only)")
        run(host, port, ProvisioningListener(get_internal_wsgi_application()), ipv6=":" in host, threading=True)
