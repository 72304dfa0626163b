"""`manage.py provisioning_network`: give a facility its provisioning network (or list them), and
reserve an address in it for every NIC of the facility's servers."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Set a facility's provisioning network (--facility CODE --network CIDR [--gateway IP]), or list them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--facility", help="facility code, e.g. da11")
        parser.add_argument("--network", help="IPv4 network in CIDR form, e.g. 10.80.0.0/16")
        parser.add_argument("--gateway", default=None, help="router handed out by DHCP (optional)")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.facilities.models import Facility
        from apps.installs.models import ProvisioningNetwork
        from apps.installs.provisioning import provisioning_network_set, provisioning_reserve

        if options["facility"] or options["network"]:
            if not (options["facility"] and options["network"]):
                raise CommandError("give both --facility and --network")
            facility = Facility.objects.filter(code=options["facility"]).first()
            if facility is None:
                raise CommandError(f"no facility {options['facility']!r}")
            try:
                provisioning_network_set(facility=facility, network=options["network"], gateway=options["gateway"])
                made = provisioning_reserve(facility=facility)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            self.stdout.write(f"{facility.code}: {options['network']}, {made} NIC(s) given an address")
        for item in ProvisioningNetwork.objects.select_related("facility").order_by("facility__code"):
            self.stdout.write(f"{item.facility.code}\t{item.network}\tgateway {item.gateway or '-'}\t"
                              f"{item.reservations.count()} reserved")
