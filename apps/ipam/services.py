"""Every write to IP space: create a block, allocate the first free aligned block, reserve for a
project, assign to a device or server, release (kept as history), delete an empty block.

Concurrency: every write that adds a block under a parent first locks the parent row
(`SELECT … FOR UPDATE`), so allocators of one parent queue for a few milliseconds while
allocators of other parents run in parallel. On PostgreSQL an exclusion constraint and a trigger
(migration 0002) refuse overlapping siblings and blocks outside their parent even if this code
were wrong; on SQLite the database-wide write lock serialises writers.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts.models import QuotaResource
from apps.accounts.quotas import quota_check
from apps.audit.services import audit_record, audit_who, diff, snapshot
from apps.ipam import selectors
from apps.ipam.models import ALLOWED_PARENTS, RELEASABLE, Assignment, Block, Kind
from apps.ipam.parsing import IPNetwork, parse_network, parse_prefix_length, prefix_length_for_quantity
from project.states import StateConflict

BITS = selectors.BITS
ROOTS_LOCK = 0x1FA3_0001  # advisory lock key: creating a root block (no parent row to lock)


class BlockConflict(ValidationError):
    """The block would overlap another, or lie outside its parent, or under the wrong kind of block."""


class SpaceExhausted(ValidationError):
    """No free, aligned block of the requested size is left."""


def _describe(block: Block) -> str:
    parts = [f"{block.get_kind_display().lower()} {block.network}"]
    if block.facility_id:
        parts.append(f"in facility {block.facility.code}")
    elif block.metro_id:
        parts.append(f"in metro {block.metro.code}")
    if block.project_id:
        parts.append(f"of project {block.project}")
    if block.device_label:
        parts.append(f"on {block.device_label}")
    return " ".join(parts)


def _gateway_for(network: IPNetwork, kind: str) -> str | None:
    """The switch side of a point-to-point assignment: the lower address of a /31 or /127, the first
    usable address of anything bigger; a single address (/32, /128) is routed and has none."""
    if kind != Kind.ASSIGNMENT or network.num_addresses == 1:
        return None
    if network.num_addresses == 2:
        return str(network.network_address)
    return str(network.network_address + 1)


def _lock(block: Block) -> Block:
    return Block.objects.select_for_update().get(pk=block.pk)


def _check_parent(*, parent: Block | None, kind: str, family: int, prefix_length: int, network: str | None = None) -> None:
    label = network or f"a /{prefix_length}"
    parent_kind = parent.kind if parent is not None else None
    if parent_kind not in ALLOWED_PARENTS[kind]:
        allowed = ", ".join(sorted(k or "nothing (a root)" for k in ALLOWED_PARENTS[kind]))
        where = f"the {parent.get_kind_display().lower()} {parent.network}" if parent else "the top of the tree"
        raise BlockConflict({"parent": f"A {Kind(kind).label.lower()} cannot sit under {where}; it goes under: {allowed}."})
    if parent is None:
        return
    if not parent.is_active:
        raise BlockConflict({"parent": f"{parent.network} was released at {parent.released_at:%Y-%m-%d %H:%M} UTC; use an active block."})
    if family != parent.family:
        raise BlockConflict({"network": f"{label} is IPv{family} but its parent {parent.network} is IPv{parent.family}."})
    if prefix_length < parent.prefix_length:
        raise BlockConflict({"network": f"{label} is larger than its parent {parent.network} (/{prefix_length} < /{parent.prefix_length})."})


def _new_block(*, network: IPNetwork, kind: str, parent: Block | None, public: bool | None = None, facility: Any = None,
               metro: Any = None, project: Any = None, server: Any = None, device_id: Any = None, device_label: str = "",
               description: str = "") -> Block:
    model = Assignment if kind == Kind.ASSIGNMENT else Block
    block = model(kind=kind, parent=parent, facility=facility, metro=metro, project=project, server=server,
                  device_id=device_id, device_label=device_label or "", description=description or "", gateway=_gateway_for(network, kind))
    block.set_network(network)
    if public is None:
        public = parent.public if parent is not None else network.is_global
    block.public = public
    return block


def _audit_create(block: Block, actor: Any, reason: str = "") -> None:
    audit_record(action=f"ipam.{block.kind}.create", target=block,
                 changes=diff({}, snapshot(block, ["network", "kind", "parent", "project", "facility", "metro", "device_id", "device_label"])),
                 reason=reason, actor=actor)
    if block.kind == Kind.RESERVATION and block.project_id:
        selectors.project_blocks_changed(block.project_id)


def _count(block: Block, sign: int) -> None:
    """Keep the parent's child counters on SQLite (on PostgreSQL the trigger of migration 0004 does it)."""
    if connection.vendor == "postgresql" or block.parent_id is None:
        return
    parent = Block.objects.get(pk=block.parent_id)
    parent.child_addresses += sign * block.size
    if block.kind == Kind.ASSIGNMENT:
        parent.child_assigned += sign * block.size
    parent.save(update_fields=["child_addresses", "child_assigned"])


def _find_parent(network: IPNetwork, kind: str) -> Block | None:
    kinds = [k for k in ALLOWED_PARENTS[kind] if k is not None]
    return selectors.blocks_containing(str(network)).filter(kind__in=kinds).order_by("-prefix_length").first()


@transaction.atomic
def block_create(*, network: Any, kind: str, parent: Block | None = None, public: bool | None = None, facility: Any = None,
                 metro: Any = None, project: Any = None, server: Any = None, device_id: Any = None, device_label: str = "",
                 description: str = "", actor: Any = None) -> Block:
    """Add one block at an exact place in the tree (a supernet, a pool, or a chosen reservation/assignment).

    Without `parent`, the smallest active block of a kind that may hold it is used (none for a root
    supernet). Refuses host bits, a block larger than or outside its parent, a family mix and an
    overlap, naming the conflicting block."""
    net = parse_network(network)
    if kind not in Kind.values:
        raise ValidationError({"kind": f"Unknown kind '{kind}'. Choose one of: {', '.join(Kind.values)}."})
    if parent is None and kind != Kind.SUPERNET:
        parent = _find_parent(net, kind)
        if parent is None:
            wanted = " or ".join(sorted(k for k in ALLOWED_PARENTS[kind] if k))
            raise BlockConflict({"parent": f"No active {wanted} contains {net}; create that first or give the parent."})
    if parent is not None:
        parent = _lock(parent)
    elif connection.vendor == "postgresql":
        # Roots have no parent row to lock; this lock stands in for it (the exclusion constraint
        # alone would also refuse an overlap, but concurrent checks can deadlock instead).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROOTS_LOCK])
    _check_parent(parent=parent, kind=kind, family=net.version, prefix_length=net.prefixlen, network=str(net))
    if parent is not None and not (parent.first <= int(net.network_address) and int(net.broadcast_address) <= parent.last):
        raise BlockConflict({"network": f"{net} does not lie inside its parent {parent.network}."})
    if kind == Kind.POOL and (facility is None) == (metro is None):
        raise ValidationError({"facility": "A pool belongs to exactly one facility or one metro; give one of them."})
    if kind != Kind.POOL and (facility is not None or metro is not None):
        raise ValidationError({"facility": "Only pools are scoped to a facility or metro; blocks beneath them inherit it."})
    if parent is not None and parent.kind == Kind.RESERVATION:
        if project is not None and project.pk != parent.project_id:
            raise BlockConflict({"project": f"{parent.network} is reserved for project {parent.project}, not {project}."})
        project = parent.project
    if kind in (Kind.SUPERNET, Kind.POOL) and project is not None:
        raise ValidationError({"project": "Supernets and pools belong to the provider, not to a project."})
    if kind == Kind.RESERVATION and project is None:
        raise ValidationError({"project": "A reservation is made for a project; give the project."})
    overlap = (Block.objects.active().filter(parent=parent, family=net.version, first__lte=int(net.broadcast_address),
                                            last__gte=int(net.network_address))
               .select_related("facility", "metro", "project").first())
    if overlap is not None:
        raise BlockConflict({"network": f"{net} overlaps the {_describe(overlap)}."})
    block = _new_block(network=net, kind=kind, parent=parent, public=public, facility=facility, metro=metro, project=project,
                       server=server, device_id=device_id, device_label=device_label, description=description)
    try:
        with transaction.atomic():
            block.save(force_insert=True)
            _count(block, +1)
    except IntegrityError as exc:
        # Only reachable when another writer raced us past the checks above (roots have no parent row to lock).
        raise BlockConflict({"network": f"{net} overlaps a block created at the same moment; try again. ({exc})"}) from exc
    _audit_create(block, actor)
    return block


def _allocate_in(parent: Block, *, prefix_length: int, kind: str, **fields: Any) -> Block | None:
    """First fit under an already locked `parent`, or None when it has no room (the portable path)."""
    start = selectors.first_fit(parent, prefix_length)
    if start is None:
        return None
    block = _new_block(network=selectors.network_at(parent.family, start, prefix_length), kind=kind, parent=parent, **fields)
    block.save(force_insert=True)
    _count(block, +1)
    return block


def _allocation_project(parent: Block, kind: str, project: Any) -> Any:
    if parent.kind == Kind.RESERVATION:
        if project is not None and project.pk != parent.project_id:
            raise BlockConflict({"project": f"{parent.network} is reserved for project {parent.project}, not {project}."})
        return parent.project
    return project


# PostgreSQL: one call of ipam_allocate() (migrations 0007–0009) locks the parent, then — a new
# statement, so a new snapshot that sees every allocation committed while it waited — finds the first
# fit from the parent's `free_from`, inserts it and its audit event. Plans are cached per connection.
# Outside a transaction the call is its own transaction, so the parent stays locked for this one
# statement and its commit, with no round trip to the client in between.
_ALLOCATE_SQL = ("SELECT * FROM ipam_allocate(%s, %s, %s, %s::uuid, %s::uuid, %s::uuid, %s, %s, %s::text[], "
                 "%s, %s, %s, %s, %s, %s::inet, %s)")
_PARENT_KINDS = {kind: sorted(str(k) for k in parents if k) for kind, parents in ALLOWED_PARENTS.items()}


def _allocate_postgres(parent_pk: int, *, prefix_length: int, kind: str, project: Any, server: Any, device_id: Any, device_label: str,
                       description: str, actor: Any) -> tuple[Block | None, Block | None]:
    """(None, the new block) — allocated and audited — or (the parent, None) when it refuses or is full."""
    model = Assignment if kind == Kind.ASSIGNMENT else Block
    who = audit_who(actor)
    params = [parent_pk, prefix_length, str(kind), str(project.pk) if project is not None else None,
              str(server.pk) if server is not None else None, str(device_id) if device_id else None, device_label or "",
              description or "", _PARENT_KINDS[kind], who["actor_type"], who["actor_id"], who["actor_name"], "", who["request_id"],
              who["source_ip"], ContentType.objects.get_for_model(model, for_concrete_model=False).pk]
    with connection.cursor() as cursor:
        cursor.execute(_ALLOCATE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        raise Block.DoesNotExist(f"There is no IP block {parent_pk}.")
    if row[13] is not None:
        block = model(id=row[13], network=row[14], family=row[2], prefix_length=prefix_length, first=int(row[15]), last=int(row[16]),
                      kind=kind, parent_id=row[0], public=row[8], project_id=row[19], server=server, device_id=device_id,
                      device_label=device_label or "", gateway=row[17], description=description or "", assigned_at=row[18])
        block._state.adding = False
        return None, block
    parent = Block(id=row[0], network=row[1], family=row[2], prefix_length=row[3], first=int(row[4]), last=int(row[5]), kind=row[6],
                   parent_id=row[7], public=row[8], facility_id=row[9], metro_id=row[10], project_id=row[11], released_at=row[12])
    parent._state.adding = False
    return parent, None


def _allocate_under(parent: Block, *, prefix_length: Any, kind: str, project: Any = None, server: Any = None, device_id: Any = None,
                    device_label: str = "", description: str = "", actor: Any = None) -> tuple[Block | None, Block | None]:
    """Lock `parent` and carve the first fit out of it, audited: (None, the new block), or (the locked
    parent, None) if it is full. Refusals (wrong kind of parent, released parent, bad size, project) raise."""
    length = parse_prefix_length(prefix_length, family=6)
    if kind == Kind.RESERVATION and project is None:
        raise ValidationError({"project": "A reservation is made for a project; give the project."})
    if connection.vendor == "postgresql":
        locked, block = _allocate_postgres(parent.pk, prefix_length=length, kind=kind, project=project, server=server, device_id=device_id,
                                           device_label=device_label, description=description, actor=actor)
        if block is not None:
            if block.kind == Kind.RESERVATION and block.project_id:  # audited inside ipam_allocate(), not by _audit_create
                selectors.project_blocks_changed(block.project_id)
            return None, block
        # Nothing was written; say why, from the parent's columns as the function saw them under the lock.
        parse_prefix_length(length, family=locked.family)
        _check_parent(parent=locked, kind=kind, family=locked.family, prefix_length=length)
        _allocation_project(locked, kind, project)
        return locked, None
    locked = _lock(parent)
    length = parse_prefix_length(length, family=locked.family)
    _check_parent(parent=locked, kind=kind, family=locked.family, prefix_length=length)
    block = _allocate_in(locked, prefix_length=length, kind=kind, project=_allocation_project(locked, kind, project), server=server,
                         device_id=device_id, device_label=device_label, description=description)
    if block is None:
        return locked, None
    _audit_create(block, actor)
    return None, block


def block_allocate(*, parent: Block, prefix_length: int, kind: str = Kind.ASSIGNMENT, project: Any = None, server: Any = None,
                   device_id: Any = None, device_label: str = "", description: str = "", actor: Any = None) -> Block:
    """Carve the first free block of `prefix_length`, aligned on its own size, out of `parent`."""
    fields = {"prefix_length": prefix_length, "kind": kind, "project": project, "server": server, "device_id": device_id,
              "device_label": device_label, "description": description, "actor": actor}
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One statement that writes everything or nothing: no transaction of our own to wrap it in.
        locked, block = _allocate_under(parent, **fields)
    else:
        with transaction.atomic():
            locked, block = _allocate_under(parent, **fields)
    if block is None:
        raise SpaceExhausted({"prefix_length": f"No free /{prefix_length} is left in {_describe(locked)}; "
                                               "add space to it or allocate a smaller block."})
    return block


@transaction.atomic
def block_allocate_from_pools(*, family: int, public: bool, prefix_length: int, facility: Any = None, metro: Any = None,
                              kind: str = Kind.ASSIGNMENT, project: Any = None, server: Any = None, device_id: Any = None,
                              device_label: str = "", description: str = "", actor: Any = None) -> Block:
    """First fit in "the public IPv4 pool of facility da11": the facility's pools in age order, then its metro's."""
    pools = selectors.pools_for(facility=facility, metro=metro, family=family, public=public)
    scope = f"facility {facility.code}" if facility is not None else f"metro {metro.code}" if metro is not None else "nowhere"
    kind_text = f"{'public' if public else 'private'} IPv{family}"
    if not pools:
        raise SpaceExhausted({"facility": f"There is no {kind_text} pool for {scope}; create one under a supernet (staff)."})
    prefix_length = parse_prefix_length(prefix_length, family=family)
    for pool in pools:
        if prefix_length < pool.prefix_length:
            continue
        _, block = _allocate_under(pool, prefix_length=prefix_length, kind=kind, project=project, server=server, device_id=device_id,
                                   device_label=device_label, description=description, actor=actor)
        if block is not None:
            return block
    tried = ", ".join(p.network for p in pools)
    raise SpaceExhausted({"prefix_length": f"No free /{prefix_length} is left in the {kind_text} pools of {scope} ({tried}); add a pool."})


def reservation_create(*, project: Any, family: int = 4, public: bool = True, quantity: int | None = None,
                       prefix_length: int | None = None, facility: Any = None, metro: Any = None, pool: Block | None = None,
                       network: Any = None, description: str = "", tags: list[str] | None = None,
                       customdata: dict[str, Any] | None = None, actor: Any = None) -> Block:
    """Reserve a block for `project`: `quantity` addresses (a power of two) or a `prefix_length`, from
    a given pool, from the pools of a facility/metro, or an exact `network`. Tags and customdata are
    the customer's own labels, stored as given."""
    with transaction.atomic():
        _reservation_quota_check(project=project, family=family, public=public, quantity=quantity, prefix_length=prefix_length,
                                 network=network)
        block = _reserve(project=project, family=family, public=public, quantity=quantity, prefix_length=prefix_length,
                         facility=facility, metro=metro, pool=pool, network=network, description=description, actor=actor)
        if tags or customdata:
            block = block_update(block=block, tags=tags, customdata=customdata, actor=actor)
    return block


def _reservation_quota_check(*, project: Any, family: int, public: bool, quantity: int | None, prefix_length: int | None,
                             network: Any) -> None:
    """Refuse a reservation that would pass the project's or organization's quota (public IPv4 addresses,
    IPv6 blocks); the check locks the organization until the reservation commits."""
    if network is not None:
        net = parse_network(network)
        family, size = net.version, net.num_addresses
    elif prefix_length is not None:
        size = 2 ** (BITS[family] - parse_prefix_length(prefix_length, family=family))
    elif quantity is not None:
        size = 2 ** (BITS[family] - prefix_length_for_quantity(quantity, family=family))
    else:
        return  # _reserve() says what is missing
    if family == 4 and public:
        quota_check(project=project, resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, adding=size)
    elif family == 6:
        quota_check(project=project, resource=QuotaResource.IPV6_BLOCKS, adding=1)


def reserved_public_ipv4_addresses(project_ids: Any) -> int:
    """Quota usage: addresses in the active public IPv4 reservations of these projects."""
    by_length = (Block.objects.active().filter(kind=Kind.RESERVATION, family=4, public=True, project_id__in=project_ids)
                 .order_by().values_list("prefix_length").annotate(count=Count("pk")))
    return sum(count * 2 ** (32 - length) for length, count in by_length)


def reserved_ipv6_blocks(project_ids: Any) -> int:
    """Quota usage: active IPv6 reservations of these projects."""
    return Block.objects.active().filter(kind=Kind.RESERVATION, family=6, project_id__in=project_ids).count()


def _reserve(*, project: Any, family: int, public: bool, quantity: int | None, prefix_length: int | None, facility: Any,
             metro: Any, pool: Block | None, network: Any, description: str, actor: Any) -> Block:
    if network is not None:
        return block_create(network=network, kind=Kind.RESERVATION, parent=pool, project=project, description=description, actor=actor)
    if prefix_length is None:
        if quantity is None:
            raise ValidationError({"quantity": "Say how many addresses to reserve (quantity) or which prefix length."})
        prefix_length = prefix_length_for_quantity(quantity, family=family)
    if pool is not None:
        return block_allocate(parent=pool, prefix_length=prefix_length, kind=Kind.RESERVATION, project=project,
                              description=description, actor=actor)
    return block_allocate_from_pools(family=family, public=public, prefix_length=prefix_length, facility=facility, metro=metro,
                                     kind=Kind.RESERVATION, project=project, description=description, actor=actor)


def assignment_create(*, parent: Block, network: Any = None, prefix_length: int | None = None, project: Any = None,
                      server: Any = None, device_id: Any = None, device_label: str = "", description: str = "",
                      actor: Any = None) -> Block:
    """Assign an address or sub-block of `parent` (a reservation or pool) to a device: the exact
    `network` asked for, or the first free block of `prefix_length` (default: one address)."""
    if network is not None:
        return block_create(network=network, kind=Kind.ASSIGNMENT, parent=parent, project=project, server=server,
                            device_id=device_id, device_label=device_label, description=description, actor=actor)
    return block_allocate(parent=parent, prefix_length=BITS[parent.family] if prefix_length is None else prefix_length,
                          kind=Kind.ASSIGNMENT, project=project, server=server, device_id=device_id, device_label=device_label,
                          description=description, actor=actor)


@transaction.atomic
def block_release(*, block: Block, actor: Any = None, reason: str = "") -> Block:
    """Give a reservation or assignment back. Its space is free at once; its row stays as history."""
    if block.parent_id is not None:
        # Parent first, as every writer under it does: the release changes the parent's counters.
        Block.objects.select_for_update().filter(pk=block.parent_id).first()
    locked = _lock(block)
    if locked.kind not in RELEASABLE:
        raise ValidationError({"kind": f"{_describe(locked)} is provider space; delete it (when empty) instead of releasing it."})
    if not locked.is_active:
        raise BlockConflict({"released_at": f"{locked.network} was already released at {locked.released_at:%Y-%m-%d %H:%M:%S} UTC."})
    active_children = Block.objects.active().filter(parent=locked).count()
    if active_children:
        raise BlockConflict({"network": f"{_describe(locked)} still has {active_children} active assignment(s); release them first."})
    before = snapshot(locked, ["released_at"])
    locked.released_at = timezone.now()
    locked.save(update_fields=["released_at"])
    _count(locked, -1)
    audit_record(action=f"ipam.{locked.kind}.release", target=locked, changes=diff(before, snapshot(locked, ["released_at"])),
                 reason=reason, actor=actor)
    if locked.kind == Kind.RESERVATION and locked.project_id:
        selectors.project_blocks_changed(locked.project_id)
    block.released_at = locked.released_at
    return locked


class PlatformManaged(StateConflict):
    """The block is the platform's (a device's management /31 or /127, routed to its switch port): a customer
    cannot release it; it goes when the device is deleted. The API answers 409."""


@transaction.atomic
def block_release_by_customer(*, block: Block, actor: Any = None, reason: str = "") -> Block:
    """A customer gives back a reservation or an address they assigned. The addresses the platform gave a device
    (assignments bound to a server: its port is configured to route them) are refused, nothing changed: released,
    they would be handed to the next tenant while the switch still routes them to this one."""
    locked = _lock(block)
    if locked.kind == Kind.ASSIGNMENT and locked.server_id is not None:
        raise PlatformManaged(f"{locked.network} is the platform-managed address of device {locked.device_label or locked.device_id}, "
                              "routed to its switch port; it is released when the device is deleted, not through the API.")
    return block_release(block=block, actor=actor, reason=reason)


@transaction.atomic
def block_update(*, block: Block, description: str | None = None, public: bool | None = None, tags: list[str] | None = None,
                 customdata: dict[str, Any] | None = None, actor: Any = None) -> Block:
    locked = _lock(block)
    before = snapshot(locked)
    for name, value in (("description", description), ("public", public), ("tags", tags), ("customdata", customdata)):
        if value is not None:
            setattr(locked, name, value)
    locked.save(update_fields=["description", "public", "tags", "customdata"])
    audit_record(action=f"ipam.{locked.kind}.update", target=locked, changes=diff(before, snapshot(locked)), actor=actor)
    return locked


@transaction.atomic
def block_delete(*, block: Block, actor: Any = None, reason: str = "") -> None:
    """Delete a supernet or pool that has never held anything (history is kept forever)."""
    locked = _lock(block)
    if locked.kind in RELEASABLE:
        raise ValidationError({"kind": f"{_describe(locked)} is released, not deleted, so its history stays."})
    held = Block.objects.filter(parent=locked).count()
    if held:
        raise BlockConflict({"network": f"{_describe(locked)} holds {held} block(s), active or historical; it cannot be deleted."})
    audit_record(action=f"ipam.{locked.kind}.delete", target=locked, changes=diff(snapshot(locked), {}), reason=reason, actor=actor)
    _count(locked, -1)
    locked.delete()


RECOUNT_SQL = """
UPDATE ipam_block p SET child_addresses = coalesce(s.addresses, 0), child_assigned = coalesce(s.assigned, 0)
FROM ipam_block b LEFT JOIN (
    SELECT parent_id, sum(last - first + 1) AS addresses,
           sum(CASE WHEN kind = 'assignment' THEN last - first + 1 ELSE 0 END) AS assigned
    FROM ipam_block WHERE released_at IS NULL AND parent_id IS NOT NULL GROUP BY parent_id
) s ON s.parent_id = b.id
WHERE p.id = b.id AND (p.child_addresses <> coalesce(s.addresses, 0) OR p.child_assigned <> coalesce(s.assigned, 0))
"""


@transaction.atomic
def block_counters_rebuild(*, actor: Any = None) -> int:
    """Recompute every block's child counters from the rows; returns how many were wrong (normally 0).
    For after a bulk load that bypassed the triggers, or as a check."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE ipam_block IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(RECOUNT_SQL)
            fixed = cursor.rowcount
            cursor.execute("UPDATE ipam_block p SET free_from = h.tight FROM (SELECT id, ipam_advance(id, first) AS tight FROM ipam_block"
                           " WHERE kind <> 'assignment') h WHERE p.id = h.id AND p.free_from IS DISTINCT FROM h.tight")
            fixed += cursor.rowcount
    else:
        totals: dict[int, tuple[int, int]] = {}
        for parent_id, kind, first, last in Block.objects.active().filter(parent__isnull=False).values_list("parent_id", "kind", "first", "last"):
            addresses, assigned = totals.get(parent_id, (0, 0))
            size = last - first + 1
            totals[parent_id] = (addresses + size, assigned + (size if kind == Kind.ASSIGNMENT else 0))
        fixed = 0
        for block in Block.objects.all():
            want = totals.get(block.pk, (0, 0))
            if (block.child_addresses, block.child_assigned) != want:
                block.child_addresses, block.child_assigned = want
                block.save(update_fields=["child_addresses", "child_assigned"])
                fixed += 1
    if fixed:
        audit_record(action="ipam.counters.rebuild", changes={"corrected_blocks": fixed}, actor=actor)
    return fixed


# ---------------------------------------------------------------------- servers (installs and switch engineers)


def _ordered(assignments: Iterable[Assignment]) -> list[Assignment]:
    return sorted(assignments, key=lambda a: (a.family, not a.public))


@transaction.atomic
def server_addresses_assign(*, server: Any, project: Any = None, device_id: Any = None, device_label: str = "",
                            public_ipv4_prefix: int = 31, actor: Any = None) -> list[Assignment]:
    """Give a server its public IPv4 (/31 or the size asked), private IPv4 /31 and public IPv6 /127
    from its facility's pools (falling back to its metro's). All or nothing; a server that already
    holds addresses for the same project and device gets the same ones back; addresses it still holds
    for anyone else are never handed on (a ValidationError names them)."""
    type(server)._default_manager.select_for_update().filter(pk=server.pk).first()  # one assigner per server at a time
    existing = list(Assignment.objects.active().filter(server=server).select_related("project"))
    if existing:
        foreign = [a for a in existing if a.project_id != getattr(project, "pk", None)
                   or (device_id is not None and str(a.device_id) != str(device_id))]
        if foreign:
            held = ", ".join(f"{a.network} ({a.project or 'infrastructure'}, device {a.device_label or a.device_id})" for a in foreign)
            raise ValidationError({"server": f"Server {server} still holds {held}; they are released when that device is "
                                             "deleted, never handed to another."})
        return _ordered(existing)
    facility = server.facility
    common = {"facility": facility, "kind": Kind.ASSIGNMENT, "project": project, "server": server, "device_id": device_id,
              "device_label": device_label, "actor": actor}
    made = [
        block_allocate_from_pools(family=4, public=True, prefix_length=public_ipv4_prefix, **common),
        block_allocate_from_pools(family=4, public=False, prefix_length=31, **common),
        block_allocate_from_pools(family=6, public=True, prefix_length=127, **common),
    ]
    return _ordered(Assignment.objects.filter(pk__in=[b.pk for b in made]).select_related("project"))


@transaction.atomic
def server_addresses_release(*, server: Any, actor: Any = None, reason: str = "") -> int:
    """Release every active assignment of a server (history kept); returns how many."""
    released = 0
    for assignment in Assignment.objects.active().select_for_update().filter(server=server).order_by("pk"):
        block_release(block=assignment, actor=actor, reason=reason)
        released += 1
    return released

