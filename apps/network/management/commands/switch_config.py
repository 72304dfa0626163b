"""`manage.py switch_config HOSTNAME [--port NAME]`: the configuration Metalyard wants on a switch, in the
switch's own syntax (what a push loads), with each port's pending/applied state. Talks to no device."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.hardware.models import Switch
from apps.network.drivers import driver_for
from apps.network.models import PortConfig
from apps.network.services import port_intent


class Command(BaseCommand):
    help = "Print the desired configuration of a switch's managed ports as the vendor's configuration lines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("hostname")
        parser.add_argument("--port", action="append", default=[], help="Only this port (repeatable), e.g. xe-0/0/12.")

    def handle(self, *args: Any, **options: Any) -> None:
        switch = Switch.objects.filter(hostname=options["hostname"]).first()
        if switch is None:
            raise CommandError(f"No switch named '{options['hostname']}'. `python manage.py switch_status` lists the managed ones.")
        configs = PortConfig.objects.filter(switch=switch).select_related("port", "switch").order_by("port__name")
        if options["port"]:
            configs = configs.filter(port__name__in=options["port"])
        driver = driver_for(switch.os)
        shown = 0
        for config in configs:
            state = f"pending (desired {config.desired_version}, applied {config.applied_version})" if config.pending else "applied"
            self.stdout.write(f"# {config.port.name}: {config.mode}, {state}")
            for line in driver.render([port_intent(config)]):
                self.stdout.write(line)
            shown += 1
        if not shown:
            self.stdout.write(f"# {switch.hostname} has no managed ports" + (" of those names" if options["port"] else ""))
