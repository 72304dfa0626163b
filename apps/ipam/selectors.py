"""Reads of IP space every face shares: gaps and first fit, free space, utilisation, who held an
address, search, and the one customer-visibility selector.

On PostgreSQL the gap search is a single streaming query (an index scan over a parent's active
children in address order, a window function for the gap before each child, stopping at the first
fit); addresses are never enumerated one by one. SQLite walks the same ordered children in Python.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from socket import inet_ntoa
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from apps.accounts.selectors import visible_projects
from apps.ipam.models import Assignment, Block, Kind
from apps.ipam.parsing import IPAddress, IPNetwork, parse_address, parse_network

BITS = {4: 32, 6: 128}

# Gaps before each active child (from `start`), then the gap after the last one, in address order.
# PostgreSQL runs UNION ALL branches in order, so LIMIT stops at the first rows it needs.
_GAPS_SQL = """
SELECT gap_start, gap_end FROM (
    SELECT coalesce(lag(last) OVER (ORDER BY first) + 1, %(start)s) AS gap_start, first - 1 AS gap_end
    FROM ipam_block
    WHERE parent_id = %(parent)s AND released_at IS NULL AND first >= %(start)s
) g WHERE gap_end >= gap_start {fit}
UNION ALL
SELECT gap_start, gap_end FROM (
    SELECT coalesce((SELECT last + 1 FROM ipam_block WHERE parent_id = %(parent)s AND released_at IS NULL AND first >= %(start)s
                     ORDER BY first DESC LIMIT 1), %(start)s) AS gap_start, %(end)s::numeric AS gap_end
) t WHERE gap_end >= gap_start {fit}
LIMIT %(limit)s
"""
_FIT = "AND gap_start + mod(%(size)s - mod(gap_start, %(size)s), %(size)s) + %(size)s - 1 <= gap_end"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _gap_start_at(parent: Block, start: int) -> int:
    """Where free space can begin at or after `start`: past the child that covers `start`, if any.

    Every address below the parent's `free_from` (kept on PostgreSQL by the trigger of migration
    0006, as the parent was loaded) is taken, so the children packed there are never read: the walk
    costs the same with 10 or 100,000 of them before the first gap."""
    floor = parent.first if parent.free_from is None else max(parent.first, parent.free_from)
    if start <= floor:
        return floor
    covering = (
        Block.objects.active().filter(parent=parent, first__lt=start).order_by("-first").values_list("last", flat=True).first()
    )
    if covering is not None and covering >= start:
        return covering + 1
    return start


def block_gaps(parent: Block, *, start: int | None = None, limit: int = 1000) -> Iterator[tuple[int, int]]:
    """Free ranges (first, last) inside `parent`, in address order, from `start` on."""
    begin = _gap_start_at(parent, parent.first if start is None else start)
    if begin > parent.last:
        return
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(_GAPS_SQL.format(fit=""), {"parent": parent.pk, "start": Decimal(begin), "end": Decimal(parent.last),
                                                      "limit": limit})
            for gap_start, gap_end in cursor.fetchall():
                yield int(gap_start), int(gap_end)
        return
    cursor_at = begin
    emitted = 0
    children = Block.objects.active().filter(parent=parent, first__gte=begin).order_by("first").values_list("first", "last")
    for first, last in children.iterator(chunk_size=2000):
        if first > cursor_at:
            yield cursor_at, first - 1
            emitted += 1
            if emitted >= limit:
                return
        cursor_at = max(cursor_at, last + 1)
    if cursor_at <= parent.last:
        yield cursor_at, parent.last


def _aligned(value: int, size: int) -> int:
    return value + (-value) % size


def first_fit(parent: Block, prefix_length: int) -> int | None:
    """The first address of the first free, aligned block of `prefix_length` inside `parent`, or None."""
    size = 1 << (BITS[parent.family] - prefix_length)
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute(_GAPS_SQL.format(fit=_FIT), {"parent": parent.pk, "start": Decimal(_gap_start_at(parent, parent.first)),
                                                        "end": Decimal(parent.last),
                                                        "size": Decimal(size), "limit": 1})
            row = cursor.fetchone()
        return None if row is None else _aligned(int(row[0]), size)
    for gap_start, gap_end in block_gaps(parent, limit=1 << 62):
        candidate = _aligned(gap_start, size)
        if candidate + size - 1 <= gap_end:
            return candidate
    return None


def network_at(family: int, first: int, prefix_length: int) -> IPNetwork:
    address = ipaddress.IPv4Address(first) if family == 4 else ipaddress.IPv6Address(first)
    return ipaddress.ip_network((address, prefix_length))


# ---------------------------------------------------------------------- free space


@dataclass(frozen=True)
class FreeSpacePage:
    """One page of free space: the largest aligned CIDR blocks as (first address, prefix length) pairs.

    Kept as integers because the staff API's free-space page is a hot endpoint: building 50
    `ipaddress` network objects (summarize_address_range and the string conversions) was the largest
    share of the view's Python time in the profile inside a gunicorn worker (docs/benchmarks.md)."""

    family: int
    cidrs: list[tuple[int, int]]
    next_start: int | None  # pass back as `start` for the next page; None on the last page

    @property
    def blocks(self) -> list[IPNetwork]:
        return [network_at(self.family, first, length) for first, length in self.cidrs]

    def texts(self) -> list[str]:
        """The blocks as CIDR text, as str() of their network objects writes them."""
        if self.family == 4:
            return [f"{inet_ntoa(first.to_bytes(4, 'big'))}/{length}" for first, length in self.cidrs]
        return [f"{ipaddress.IPv6Address(first)}/{length}" for first, length in self.cidrs]


def block_free_space(block: Block, *, start: int | None = None, limit: int = 50) -> FreeSpacePage:
    """The free space of `block` as the largest aligned CIDR blocks, in address order, one page at a time."""
    limit = max(1, min(limit, 1000))
    return _page(block_gaps(block, start=start, limit=limit), block.family, limit)


def _page(gaps: Iterable[tuple[int, int]], family: int, limit: int) -> FreeSpacePage:
    bits = BITS[family]
    out: list[tuple[int, int]] = []
    # Each gap splits into at most 2 × bits CIDR blocks, so `limit` gaps always fill a page. At each
    # address the block is the largest one aligned there that still fits in the gap (what
    # ipaddress.summarize_address_range does, without an object per address).
    for gap_start, gap_end in gaps:
        first = gap_start
        while first <= gap_end:
            aligned = (first & -first).bit_length() - 1 if first else bits
            size_bits = min(aligned, (gap_end - first + 1).bit_length() - 1)
            if len(out) == limit:
                return FreeSpacePage(family, out, first)
            out.append((first, bits - size_bits))
            first += 1 << size_bits
    return FreeSpacePage(family, out, None)


# The block and the gaps of its first page in one statement (PostgreSQL): the same walk as _GAPS_SQL,
# from the block's free_from, with the block's columns on every row (one row with no gap when full).
_FIRST_PAGE_SQL = """
WITH b AS (SELECT id, network::text AS network, family, first, last, greatest(first, coalesce(free_from, first)) AS start
           FROM ipam_block WHERE id = %(id)s)
SELECT b.network, b.family, b.first, b.last, g.gap_start, g.gap_end FROM b LEFT JOIN LATERAL (
    (SELECT gap_start, gap_end FROM (
        SELECT coalesce(lag(c.last) OVER (ORDER BY c.first) + 1, b.start) AS gap_start, c.first - 1 AS gap_end
        FROM ipam_block c WHERE c.parent_id = b.id AND c.released_at IS NULL AND c.first >= b.start
    ) x WHERE gap_end >= gap_start)
    UNION ALL
    (SELECT gap_start, b.last FROM (
        SELECT coalesce((SELECT c.last + 1 FROM ipam_block c WHERE c.parent_id = b.id AND c.released_at IS NULL AND c.first >= b.start
                         ORDER BY c.first DESC LIMIT 1), b.start) AS gap_start
    ) t WHERE b.last >= gap_start)
    LIMIT %(limit)s
) g ON true
"""


def block_free_space_first_page(pk: int, *, limit: int = 50) -> tuple[Block, FreeSpacePage] | None:
    """The block `pk` (network, family, first, last loaded) and its first free-space page, in one round
    trip on PostgreSQL (the API's hot path); None if there is no such block."""
    limit = max(1, min(limit, 1000))
    if not _postgres():
        block = Block.objects.filter(pk=pk).first()
        return None if block is None else (block, block_free_space(block, limit=limit))
    with connection.cursor() as cursor:
        first_page_send(cursor, pk, limit=limit)
        return first_page_receive(cursor, pk, limit=limit)


def first_page_send(cursor: Any, pk: int, *, limit: int) -> None:
    """PostgreSQL: send the statement of block_free_space_first_page() (the reply is read by
    first_page_receive(), so a caller may send another statement in between, in the same round trip)."""
    cursor.execute(_FIRST_PAGE_SQL, {"id": pk, "limit": max(1, min(limit, 1000))})


def first_page_receive(cursor: Any, pk: int, *, limit: int) -> tuple[Block, FreeSpacePage] | None:
    rows = cursor.fetchall()
    if not rows:
        return None
    network, family, first, last = rows[0][:4]
    block = Block(pk=pk, network=network, family=family, first=int(first), last=int(last))
    gaps = [(int(gap_start), int(gap_end)) for *_, gap_start, gap_end in rows if gap_start is not None]
    return block, _page(gaps, family, max(1, min(limit, 1000)))


# ---------------------------------------------------------------------- utilisation


@dataclass(frozen=True)
class Utilisation:
    total: int
    allocated: int  # addresses in the block's active direct children (sub-blocks, reservations, assignments)
    assigned: int  # addresses in active assignments anywhere beneath it
    children: int

    @property
    def allocated_percent(self) -> float:
        return 100.0 * self.allocated / self.total if self.total else 0.0

    @property
    def assigned_percent(self) -> float:
        return 100.0 * self.assigned / self.total if self.total else 0.0

    @property
    def free(self) -> int:
        return self.total - self.allocated


_UTILISATION_SQL = """
SELECT (SELECT child_addresses FROM ipam_block WHERE id = %(id)s),
       (SELECT count(*) FROM ipam_block WHERE parent_id = %(id)s AND released_at IS NULL),
       (SELECT coalesce(sum(child_assigned), 0) FROM ipam_block
        WHERE family = %(family)s AND first >= %(first)s AND first <= %(last)s AND kind <> 'assignment' AND released_at IS NULL
          AND last <= %(last)s)
"""


def block_utilisation(block: Block) -> Utilisation:
    """Used / total addresses of `block`, from the child counters the database keeps.

    `allocated` is the block's own counter; `assigned` sums the assignment counters of the block and
    of every active supernet, pool and reservation beneath it (one index range), so a /8 holding
    100,000 assignments in 10,000 reservations reads ~10,000 counters, not 100,000 rows."""
    if block.kind == Kind.ASSIGNMENT:
        size = block.size if block.is_active else 0
        return Utilisation(block.size, size, size, 0)
    if _postgres():
        with connection.cursor() as cursor:  # one round trip for the three figures
            cursor.execute(_UTILISATION_SQL, {"id": block.pk, "family": block.family, "first": Decimal(block.first),
                                              "last": Decimal(block.last)})
            allocated, children, assigned = (int(value or 0) for value in cursor.fetchone())
        return Utilisation(block.size, allocated, assigned, children)
    allocated = Block.objects.filter(pk=block.pk).values_list("child_addresses", flat=True).first() or 0
    children = Block.objects.active().filter(parent=block).count()
    assigned = sum(Block.objects.active().exclude(kind=Kind.ASSIGNMENT)
                   .filter(family=block.family, first__gte=block.first, first__lte=block.last, last__lte=block.last)
                   .values_list("child_assigned", flat=True))
    return Utilisation(block.size, allocated, assigned, children)


_UTILISATION_BY_ID_SQL = """
SELECT b.network::text, b.family, b.first, b.last, b.kind, b.released_at, b.child_addresses,
       (SELECT count(*) FROM ipam_block c WHERE c.parent_id = b.id AND c.released_at IS NULL),
       (SELECT coalesce(sum(i.child_assigned), 0) FROM ipam_block i
        WHERE i.family = b.family AND i.first >= b.first AND i.first <= b.last AND i.kind <> 'assignment' AND i.released_at IS NULL
          AND i.last <= b.last)
FROM ipam_block b WHERE b.id = %(id)s
"""


def block_utilisation_by_id(pk: int) -> tuple[Block, Utilisation] | None:
    """The block `pk` (network, family, first, last, kind, released_at loaded) and its utilisation, in
    one round trip on PostgreSQL (the API's hot path); None if there is no such block."""
    if not _postgres():
        block = Block.objects.filter(pk=pk).first()
        return None if block is None else (block, block_utilisation(block))
    with connection.cursor() as cursor:
        utilisation_send(cursor, pk)
        return utilisation_receive(cursor, pk)


def utilisation_send(cursor: Any, pk: int) -> None:
    """PostgreSQL: send the statement of block_utilisation_by_id(); utilisation_receive() reads it."""
    cursor.execute(_UTILISATION_BY_ID_SQL, {"id": pk})


def utilisation_receive(cursor: Any, pk: int) -> tuple[Block, Utilisation] | None:
    row = cursor.fetchone()
    if row is None:
        return None
    network, family, first, last, kind, released_at, allocated, children, assigned = row
    block = Block(pk=pk, network=network, family=family, first=int(first), last=int(last), kind=kind, released_at=released_at)
    if kind == Kind.ASSIGNMENT:
        return block, block_utilisation(block)
    return block, Utilisation(block.size, int(allocated), int(assigned), int(children))


# ---------------------------------------------------------------------- history and search


def _containing(address: IPAddress | IPNetwork) -> Q:
    if isinstance(address, ipaddress.IPv4Network | ipaddress.IPv6Network):
        first, last = int(address.network_address), int(address.broadcast_address)
    else:
        first = last = int(address)
    if _postgres():
        return Q(network__net_contains_or_equals=str(address))
    return Q(family=address.version, first__lte=first, last__gte=last)


def who_held(address: Any, at: dt.datetime) -> list[Assignment]:
    """The assignments that covered `address` at the moment `at` (normally one): project, device, interval."""
    ip = parse_address(address)
    return list(
        Assignment.objects.filter(_containing(ip), assigned_at__lte=at)
        .filter(Q(released_at__isnull=True) | Q(released_at__gt=at))
        .select_related("project__organization", "parent").order_by("-assigned_at")
    )


def address_history(address: Any) -> QuerySet[Block]:
    """Every reservation and assignment that ever covered `address`, newest first."""
    ip = parse_address(address)
    return (Block.objects.filter(_containing(ip), kind__in=[Kind.RESERVATION, Kind.ASSIGNMENT])
            .select_related("project__organization", "facility", "parent").order_by("-assigned_at"))


def blocks_containing(query: Any, *, include_released: bool = False) -> QuerySet[Block]:
    """The blocks that contain an address or CIDR (its ancestors in the tree), widest first."""
    target: IPAddress | IPNetwork = parse_network(query, field="q") if "/" in str(query) else parse_address(query, field="q")
    qs = Block.objects.filter(_containing(target))
    if not include_released:
        qs = qs.active()
    return qs.select_related("facility", "metro", "project").order_by("prefix_length")


def blocks_within(query: Any, *, include_released: bool = False) -> QuerySet[Block]:
    """The blocks inside a CIDR (an indexed range on family + first), in address order."""
    network = parse_network(query, field="q")
    qs = Block.objects.filter(family=network.version, first__gte=int(network.network_address), first__lte=int(network.broadcast_address),
                              last__lte=int(network.broadcast_address))
    if not include_released:
        qs = qs.active()
    return qs.select_related("facility", "metro", "project").order_by("first", "prefix_length")


def server_addresses(server: Any) -> list[Assignment]:
    """A server's active assignments (public IPv4, private IPv4, IPv6), in that order."""
    rows = list(Assignment.objects.active().filter(server=server).select_related("project"))
    rows.sort(key=lambda a: (a.family, not a.public))
    return rows


def device_addresses(device_id: Any) -> list[Assignment]:
    rows = list(Assignment.objects.active().filter(device_id=device_id).select_related("project"))
    rows.sort(key=lambda a: (a.family, not a.public))
    return rows


# ---------------------------------------------------------------------- customers


def blocks_visible_to(user: Any, token: Any = None) -> QuerySet[Block]:
    """The reservations and assignments a customer may see: those of the projects visible to them.

    Every customer-facing face (API, portal) starts here, so another tenant's block is a 404."""
    return (Block.objects.filter(project__in=visible_projects(user, token).values("pk"), kind__in=[Kind.RESERVATION, Kind.ASSIGNMENT])
            .select_related("project__organization", "facility__metro", "metro", "parent__facility__metro", "parent__metro"))


def pools_for(*, facility: Any = None, metro: Any = None, family: int, public: bool) -> list[Block]:
    """The active pools an allocation may draw from, in order: a facility's own, then its metro's.
    Asked for a metro alone: the metro-wide pools, then those of the metro's facilities."""
    pools = Block.objects.active().filter(kind=Kind.POOL, family=family, public=public).select_related("facility", "metro")
    order = ("assigned_at", "pk")
    if facility is not None:
        return list(pools.filter(facility=facility).order_by(*order)) + list(pools.filter(metro_id=facility.metro_id).order_by(*order))
    if metro is not None:
        return list(pools.filter(metro=metro).order_by(*order)) + list(pools.filter(facility__metro=metro).order_by("facility__code", *order))
    return []


# ---------------------------------------------------------------------- holds (project.holds, registered in apps.py)


def server_held_by_addresses(server: Any) -> list[str]:
    held = list(Assignment.objects.active().filter(server=server).values_list("network", flat=True)[:5])
    return [f"it holds address assignment(s) {', '.join(str(n) for n in held)}"] if held else []


def project_held_by_blocks(project: Any) -> list[str]:
    held = Block.objects.active().filter(project=project, kind__in=[Kind.RESERVATION, Kind.ASSIGNMENT]).count()
    return [f"{held} IP reservation(s) or assignment(s) that are not released"] if held else []


# ---------------------------------------------------------------------- devices (the installs app's)
# Devices belong to the installs app, which builds on ipam: it registers how to find a project's live
# device here at startup (InstallsConfig.ready), so that ipam never imports it.
_device_hostname_lookup: Callable[[Any, Any], str | None] | None = None


def device_hostname_lookup_register(lookup: Callable[[Any, Any], str | None]) -> None:
    global _device_hostname_lookup
    _device_hostname_lookup = lookup


def project_device_hostname(device_id: Any, project: Any) -> str | None:
    """The hostname of `project`'s live device `device_id`, or None (another project's, deleted, none)."""
    if _device_hostname_lookup is None:
        raise RuntimeError("no device lookup registered: apps.installs must be installed")
    return _device_hostname_lookup(device_id, project)


# ---------------------------------------------------------------------- what a project may announce (BGP)
# The network app builds its customers' BGP filters from these blocks; it registers here (NetworkConfig.ready)
# to hear when a project's reservations change, so that ipam never imports it. The callbacks run after the
# change commits, each in a transaction of its own: recomputing a filter locks servers, and doing that under
# the pool lock a reservation holds would invert the order the install workflow takes (server, then pool).
_project_blocks_listeners: list[Callable[[Any], None]] = []


def project_blocks_listener_register(listener: Callable[[Any], None]) -> None:
    if listener not in _project_blocks_listeners:
        _project_blocks_listeners.append(listener)


def project_blocks_changed(project_id: Any) -> None:
    """A reservation of the project was created or released: tell the listeners once this commits."""
    for listener in _project_blocks_listeners:
        transaction.on_commit(lambda listener=listener: listener(project_id))


def announceable_blocks(*, project: Any, family: int, metro: Any = None, device_id: Any = None) -> list[str]:
    """The prefixes a project's BGP session may announce, each to be accepted at exactly its length:
    the project's active reservations of `family` (in `metro`, when given: a block is routed only where its
    pool is), plus, when `device_id` is given (local BGP), that device's own assigned links."""
    reservations = Block.objects.active().filter(kind=Kind.RESERVATION, project=project, family=family)
    if metro is not None:
        reservations = reservations.filter(Q(parent__facility__metro=metro) | Q(parent__metro=metro))
    blocks = list(reservations.values_list("first", "network"))
    if device_id is not None:
        own = Assignment.objects.active().filter(device_id=device_id, family=family, parent__kind=Kind.POOL)
        blocks += list(own.values_list("first", "network"))
    return [str(network) for _, network in sorted(set(blocks), key=lambda item: (item[0], str(item[1])))]
