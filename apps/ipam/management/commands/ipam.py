"""`manage.py ipam`: the IP tree from a terminal — tree, utilisation, free space, who held an address."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.ipam import selectors, services
from apps.ipam.models import Block, Kind


def _block(network: str) -> Block:
    block = Block.objects.active().filter(network=network).exclude(kind=Kind.ASSIGNMENT).order_by("prefix_length").first()
    if block is None:
        raise CommandError(f"No active supernet, pool or reservation is {network}; list them with: python manage.py ipam tree")
    return block


class Command(BaseCommand):
    help = "Look at IP space: tree | utilisation NETWORK | free NETWORK [--limit N] | who-held ADDRESS [--at ISO-TIME] | recount"

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("tree", help="supernets and pools with their utilisation")
        use = sub.add_parser("utilisation", help="used / total addresses of a block")
        use.add_argument("network")
        free = sub.add_parser("free", help="free space of a block as the largest aligned blocks")
        free.add_argument("network")
        free.add_argument("--limit", type=int, default=20)
        who = sub.add_parser("who-held", help="who held an address at a moment (default: now)")
        who.add_argument("address")
        who.add_argument("--at", default="", help="e.g. 2026-03-04T12:00:00Z (UTC if no zone is given)")
        sub.add_parser("recount", help="recompute the utilisation counters from the rows (after a bulk load); prints how many were off")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "do_" + options["what"].replace("-", "_"))(options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _line(self, block: Block, depth: int) -> None:
        use = selectors.block_utilisation(block)
        bar = "#" * round(use.allocated_percent / 5) + "." * (20 - round(use.allocated_percent / 5))
        scope = block.facility.code if block.facility_id else block.metro.code if block.metro_id else ""
        self.stdout.write(f"{'  ' * depth}{block.network:<24} {block.kind:<12} {scope:<6} [{bar}] "
                          f"{use.allocated_percent:5.1f}% allocated, {use.assigned_percent:5.1f}% assigned")

    def do_recount(self, options: dict) -> None:
        fixed = services.block_counters_rebuild()
        self.stdout.write(f"{fixed} block(s) had wrong counters and were corrected." if fixed else "All counters were right.")

    def do_tree(self, options: dict) -> None:
        roots = Block.objects.active().filter(parent__isnull=True).order_by("family", "first")
        if not roots:
            self.stdout.write("No IP space yet. Staff create supernets and pools in the admin (IP address management → Blocks).")
        for root in roots:
            self._line(root, 0)
            for pool in Block.objects.active().filter(parent=root).exclude(kind=Kind.ASSIGNMENT).select_related("facility", "metro")[:200]:
                self._line(pool, 1)

    def do_utilisation(self, options: dict) -> None:
        block = _block(options["network"])
        use = selectors.block_utilisation(block)
        self.stdout.write(f"{block.network}: {use.total:,} addresses; {use.allocated:,} allocated to {use.children:,} blocks "
                          f"({use.allocated_percent:.2f} %); {use.assigned:,} assigned ({use.assigned_percent:.2f} %); {use.free:,} free")

    def do_free(self, options: dict) -> None:
        block = _block(options["network"])
        page = selectors.block_free_space(block, limit=options["limit"])
        for network in page.blocks:
            self.stdout.write(f"{network!s:<24} {network.num_addresses:,} addresses")
        if page.next_start is not None:
            self.stdout.write(f"… more (the staff API pages on: /api/ipam/blocks/{block.pk}/free)")

    def do_who_held(self, options: dict) -> None:
        at = timezone.now()
        if options["at"]:
            at = parse_datetime(options["at"])
            if at is None:
                raise CommandError(f"'{options['at']}' is not an ISO 8601 time, e.g. 2026-03-04T12:00:00Z.")
            if timezone.is_naive(at):
                at = timezone.make_aware(at, timezone.get_fixed_timezone(0))
        held = selectors.who_held(options["address"], at)
        if not held:
            self.stdout.write(f"Nobody held {options['address']} at {at:%Y-%m-%d %H:%M:%S %Z}.")
        for a in held:
            until = f"{a.released_at:%Y-%m-%d %H:%M:%S}" if a.released_at else "now"
            self.stdout.write(f"{a.network}: project {a.project or '(infrastructure)'}, device {a.device_label or '-'} "
                              f"{a.device_id or ''}, from {a.assigned_at:%Y-%m-%d %H:%M:%S} to {until} UTC")
