"""The IP block tree: supernets → facility pools → project reservations → assignments, with history.

One table holds every level, so "siblings never overlap" is one database rule (an exclusion
constraint on PostgreSQL, see migrations/0002) and a gap search is one ordered index scan over a
parent's active children. A released reservation or assignment keeps its row forever
(`released_at`): that is the history the abuse desk queries.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.ipam.fields import AddressIntegerField, CidrField

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Kind(models.TextChoices):
    SUPERNET = "supernet", "Supernet"
    POOL = "pool", "Facility pool"
    RESERVATION = "reservation", "Project reservation"
    ASSIGNMENT = "assignment", "Assignment"


# Which kind of block may sit under which (None: a root).
ALLOWED_PARENTS: dict[str, frozenset[str | None]] = {
    Kind.SUPERNET: frozenset({None, Kind.SUPERNET}),
    Kind.POOL: frozenset({Kind.SUPERNET}),
    Kind.RESERVATION: frozenset({Kind.POOL}),
    Kind.ASSIGNMENT: frozenset({Kind.POOL, Kind.RESERVATION}),
}
# Kinds whose rows are released (kept as history) instead of deleted.
RELEASABLE = frozenset({Kind.RESERVATION, Kind.ASSIGNMENT})


class BlockQuerySet(models.QuerySet):
    def active(self) -> BlockQuerySet:
        return self.filter(released_at__isnull=True)


class Block(models.Model):
    network = CidrField(help_text="CIDR, e.g. 147.75.0.0/16 or 2604:1380::/32")
    family = models.PositiveSmallIntegerField(choices=[(4, "IPv4"), (6, "IPv6")], editable=False)
    prefix_length = models.PositiveSmallIntegerField(editable=False)
    # The first and last address as integers: gap searches and range tests are indexed comparisons.
    first = AddressIntegerField(editable=False)
    last = AddressIntegerField(editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    public = models.BooleanField(help_text="Internet-routable space (public) or private (RFC 1918 / ULA).")
    facility = models.ForeignKey("facilities.Facility", null=True, blank=True, on_delete=models.PROTECT, related_name="ip_blocks",
                                 help_text="Pools: the facility whose servers draw from this pool.")
    metro = models.ForeignKey("facilities.Metro", null=True, blank=True, on_delete=models.PROTECT, related_name="ip_blocks",
                              help_text="Pools: a metro-wide pool (used when a facility has no pool of its own left).")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="ip_blocks",
                                help_text="Reservations and assignments: the customer project (empty: infrastructure).")
    server = models.ForeignKey("hardware.Server", null=True, blank=True, on_delete=models.PROTECT, related_name="ip_assignments",
                               help_text="Assignments: the physical server whose routed port carries this block.")
    # The installs app's Device; no foreign key, so installs → ipam stays the only direction of imports.
    device_id = models.UUIDField(null=True, blank=True, db_index=True)
    device_label = models.CharField(max_length=255, blank=True, help_text="The device's hostname when it was assigned.")
    gateway = models.GenericIPAddressField(null=True, blank=True, help_text="Assignments: the switch side (the device's gateway).")
    description = models.CharField(max_length=200, blank=True)
    # What the customer attached to a reservation through the API; returned exactly as given.
    tags = models.JSONField(default=list, blank=True)
    customdata = models.JSONField(default=dict, blank=True)
    # Kept by the database (trigger, migration 0004) on PostgreSQL and by the services on SQLite, under
    # the parent's row lock: addresses in this block's active direct children, and in those that are
    # assignments. Utilisation of a /8 then sums a few thousand counters instead of every assignment.
    child_addresses = AddressIntegerField(default=0, editable=False)
    child_assigned = AddressIntegerField(default=0, editable=False)
    # PostgreSQL only (the same trigger): every address below this one is taken by active children, so
    # first fit starts its scan here instead of at the block's first child. Empty: start at `first`.
    free_from = AddressIntegerField(null=True, blank=True, editable=False)
    assigned_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="When this block was created or handed out.")
    released_at = models.DateTimeField(null=True, blank=True, help_text="When it was given back; empty while active.")

    objects = BlockQuerySet.as_manager()

    class Meta:
        ordering = ["family", "first", "prefix_length"]
        indexes = [
            # The gap search and free-space listing: a parent's active children in address order.
            models.Index(fields=["parent", "first"], include=["last"], condition=Q(released_at__isnull=True), name="ipam_block_active_children"),
            # Utilisation: active assignments beneath any block, as an index range on (family, first).
            # Utilisation: the active non-assignment blocks beneath any block, as an index range.
            models.Index(fields=["family", "first"], include=["last"], condition=Q(released_at__isnull=True) & ~Q(kind="assignment"),
                         name="ipam_block_active_inner"),
            # Who-held on SQLite (PostgreSQL uses the GiST index on network, migration 0002).
            models.Index(fields=["family", "first", "last"], name="ipam_block_range"),
            models.Index(fields=["kind", "facility"], condition=Q(kind="pool"), name="ipam_block_pools"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(family__in=[4, 6]), name="ipam_block_family"),
            models.CheckConstraint(condition=Q(family=4, prefix_length__lte=32) | Q(family=6, prefix_length__lte=128),
                                   name="ipam_block_prefix_length"),
            models.CheckConstraint(condition=Q(first__lte=models.F("last")), name="ipam_block_first_le_last"),
            models.CheckConstraint(condition=~Q(facility__isnull=False, metro__isnull=False), name="ipam_block_facility_xor_metro",
                                   violation_error_message="A pool belongs to one facility or to one metro, not both."),
            models.CheckConstraint(condition=Q(released_at__isnull=True) | Q(kind__in=sorted(RELEASABLE)), name="ipam_block_release_kinds"),
        ]

    def __str__(self) -> str:
        return self.network

    # ------------------------------------------------------------------ derived values
    @property
    def ip_network(self) -> IPNetwork:
        return ipaddress.ip_network(self.network)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def is_active(self) -> bool:
        return self.released_at is None

    @property
    def address(self) -> str:
        """The device's own address: the upper of a /31 or /127 pair, else the first after the gateway."""
        net = self.ip_network
        if self.gateway:
            return str(ipaddress.ip_address(self.gateway) + 1)
        return str(net.network_address)

    @property
    def netmask(self) -> str:
        return str(self.ip_network.netmask)

    @property
    def scope_label(self) -> str:
        if self.facility_id:
            return f"facility {self.facility}"
        if self.metro_id:
            return f"metro {self.metro.code}"
        return ""

    def set_network(self, network: IPNetwork) -> None:
        self.network = str(network)
        self.family = network.version
        self.prefix_length = network.prefixlen
        self.first = int(network.network_address)
        self.last = int(network.broadcast_address)


class AssignmentManager(models.Manager.from_queryset(BlockQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(kind=Kind.ASSIGNMENT)


class Assignment(Block):
    """An address or small block bound to a server interface or a customer device (with its gateway)."""

    objects = AssignmentManager()

    class Meta:
        proxy = True
        ordering = ["-assigned_at"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.kind = Kind.ASSIGNMENT
        super().save(*args, **kwargs)


class ReservationManager(models.Manager.from_queryset(BlockQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(kind=Kind.RESERVATION)


class Reservation(Block):
    """A project's block (an elastic /29, a /56 …) from which it assigns addresses to its devices."""

    objects = ReservationManager()

    class Meta:
        proxy = True
        ordering = ["-assigned_at"]
