"""Allocation under real concurrency on PostgreSQL: 64 workers, each on its own database connection,
allocate from one pool at the same moment; then an independent check (Python's ipaddress over every
row, not the services' or the database's own overlap logic) that nothing overlaps or leaks out."""
from __future__ import annotations

import ipaddress
import itertools

import pytest
from django.db import IntegrityError, connections, transaction

from apps.audit.models import AuditEvent
from apps.facilities.models import Facility, Metro
from apps.ipam import services
from apps.ipam.models import Block, Kind
from tests.concurrency import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 64
PER_WORKER = 3
SIZES = (31, 31, 29)  # mixed sizes make the alignment holes first fit must fill


def test_64_concurrent_allocators_never_overlap():
    facility = Facility.objects.create(code="da11", metro=Metro.objects.create(code="da", name="Dallas", country="US"), name="D11")
    supernet = services.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)
    pool = services.block_create(network="147.75.4.0/22", kind=Kind.POOL, parent=supernet, facility=facility)
    seen_connections: set[int] = set()

    def allocate(index: int) -> None:
        for size in SIZES:
            services.block_allocate(parent=pool, prefix_length=size, device_label=f"worker-{index}")
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            seen_connections.add(cursor.fetchone()[0])

    errors = run_concurrently(allocate, WORKERS)
    assert errors == []
    assert len(seen_connections) == WORKERS  # really 64 separate database sessions

    rows = list(Block.objects.filter(parent=pool, released_at__isnull=True).values_list("network", flat=True))
    assert len(rows) == WORKERS * PER_WORKER
    pool_net = ipaddress.ip_network("147.75.4.0/22")
    nets = sorted((ipaddress.ip_network(r) for r in rows), key=lambda n: int(n.network_address))
    assert all(n.subnet_of(pool_net) for n in nets), "a block lies outside the pool"
    for before, after in itertools.pairwise(nets):
        assert int(before.broadcast_address) < int(after.network_address), f"{before} overlaps {after}"
    # First fit stays dense: 128 /31s and 64 /29s need exactly 768 addresses, so nothing lies beyond them.
    assert int(nets[-1].broadcast_address) - int(pool_net.network_address) + 1 == WORKERS * (2 + 2 + 8)
    # Every allocation wrote its audit event (in the same statement, so in the same transaction).
    events = AuditEvent.objects.filter(action="ipam.assignment.create", target_id__in=[str(pk) for pk in Block.objects.filter(
        parent=pool).values_list("pk", flat=True)])
    assert events.count() == WORKERS * PER_WORKER


def test_concurrent_supernet_creation_never_overlaps():
    # Roots have no parent row to lock; an advisory lock serialises them, the exclusion constraint backs it.
    def create(index: int) -> None:
        services.block_create(network=f"100.64.{index}.0/24" if index % 2 else "100.64.0.0/10", kind=Kind.SUPERNET)

    errors = run_concurrently(create, 8)
    roots = list(Block.objects.filter(parent=None).values_list("network", flat=True))
    nets = [ipaddress.ip_network(r) for r in roots]
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert len(errors) + len(roots) == 8 and all(isinstance(e, services.BlockConflict) for e in errors)


def test_the_database_refuses_overlaps_and_escapes_whatever_the_code_does():
    supernet = services.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)
    pool = services.block_create(network="147.75.0.0/24", kind=Kind.POOL, parent=supernet, metro=Metro.objects.create(
        code="ny", name="New York", country="US"))
    services.block_create(network="147.75.0.0/31", kind=Kind.ASSIGNMENT, parent=pool)

    def raw(network: str, parent: Block) -> None:
        block = Block(kind=Kind.ASSIGNMENT, parent=parent, public=True)
        block.set_network(ipaddress.ip_network(network))
        with transaction.atomic():
            block.save()

    with pytest.raises(IntegrityError, match="ipam_block_active_siblings_disjoint"):
        raw("147.75.0.0/30", pool)
    with pytest.raises(IntegrityError, match="does not lie inside its parent"):
        raw("147.75.9.0/31", pool)
    with pytest.raises(IntegrityError, match="still has active blocks"):
        Block.objects.filter(pk=pool.pk).update(released_at="2026-01-01T00:00:00Z", kind=Kind.RESERVATION)
