"""Reads: who held an address (before, during, after an interval), utilisation, free space, search."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ipam import selectors, services
from apps.ipam.models import Block, Kind
from tests.factories import ProjectFactory

UTC = dt.UTC


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 4, hour, minute, tzinfo=UTC)


def test_who_held_at_before_and_after_an_interval(pool4):
    acme, globex = ProjectFactory(name="acme-prod"), ProjectFactory(name="globex-hpc")
    device = uuid.uuid4()
    reservation = services.reservation_create(project=acme, pool=pool4, quantity=8)
    held = services.assignment_create(parent=reservation, network="147.75.0.4/31", device_id=device, device_label="web-1")
    Block.objects.filter(pk=held.pk).update(assigned_at=_at(10))
    services.block_release(block=held)
    Block.objects.filter(pk=held.pk).update(released_at=_at(14))
    later = services.assignment_create(parent=reservation, network="147.75.0.4/30", device_label="web-2")
    Block.objects.filter(pk=later.pk).update(assigned_at=_at(15))
    other = services.reservation_create(project=globex, pool=pool4, quantity=2)

    during = selectors.who_held("147.75.0.5", _at(12))
    assert [(a.project, a.device_id, a.device_label, a.assigned_at, a.released_at) for a in during] == [
        (acme, device, "web-1", _at(10), _at(14))]
    assert selectors.who_held("147.75.0.5", _at(9, 59)) == []  # before the interval
    assert selectors.who_held("147.75.0.5", _at(14)) == []  # released at 14:00 sharp: no longer held
    after = selectors.who_held("147.75.0.5", _at(16))
    assert [a.device_label for a in after] == ["web-2"] and after[0].released_at is None
    assert selectors.who_held(other.network.split("/")[0], _at(16)) == []  # reserved, not assigned to a device
    assert [b.kind for b in selectors.address_history("147.75.0.5")] == [Kind.RESERVATION, Kind.ASSIGNMENT, Kind.ASSIGNMENT]


def test_who_held_refuses_a_network(db):
    with pytest.raises(ValidationError):
        selectors.who_held("147.75.0.0/24", _at(12))


def test_utilisation_counts_children_and_assignments_beneath(supernet4, pool4):
    for _ in range(3):
        services.block_allocate(parent=pool4, prefix_length=31)
    reservation = services.reservation_create(project=ProjectFactory(), pool=pool4, quantity=16)
    services.assignment_create(parent=reservation, prefix_length=30)
    released = services.block_allocate(parent=pool4, prefix_length=29)
    services.block_release(block=released)

    pool_use = selectors.block_utilisation(pool4)
    assert (pool_use.total, pool_use.allocated, pool_use.assigned, pool_use.children) == (256, 6 + 16, 6 + 4, 4)
    assert round(pool_use.allocated_percent, 2) == 8.59
    top = selectors.block_utilisation(supernet4)
    assert (top.total, top.allocated, top.assigned, top.children) == (65536, 256, 10, 1)


def test_counters_stay_exact_through_every_kind_of_write(supernet4, pool4, facility):
    import random

    rng = random.Random(7)
    project = ProjectFactory()
    live: list[Block] = []
    for _ in range(60):
        roll = rng.random()
        if roll < 0.45 or not live:
            live.append(services.block_allocate(parent=pool4, prefix_length=rng.choice([31, 30, 29, 32])))
        elif roll < 0.6:
            reservation = services.reservation_create(project=project, pool=pool4, quantity=rng.choice([2, 4, 8]))
            live.append(services.assignment_create(parent=reservation))
            live.append(reservation)
        else:
            block = live.pop(rng.randrange(len(live)))
            if Block.objects.active().filter(parent=block).exists():
                live.append(block)
                continue
            services.block_release(block=block)
    spare = services.block_create(network="147.75.99.0/24", kind=Kind.POOL, parent=supernet4, facility=facility)
    services.block_delete(block=spare)
    assert services.block_counters_rebuild() == 0  # what the writes kept equals a recount from the rows
    use = selectors.block_utilisation(pool4)
    rows = Block.objects.active().filter(parent=pool4)
    assert use.allocated == sum(b.size for b in rows)
    assert use.assigned == sum(b.size for b in Block.objects.active().filter(kind=Kind.ASSIGNMENT, first__gte=pool4.first,
                                                                             first__lte=pool4.last, family=4))
    Block.objects.filter(pk=pool4.pk).update(child_addresses=12345)  # as a bulk load that bypassed the services would
    assert services.block_counters_rebuild() == 1
    assert selectors.block_utilisation(pool4).allocated == use.allocated


def test_free_space_is_listed_as_largest_aligned_blocks_page_by_page(pool4):
    services.block_create(network="147.75.0.2/31", kind=Kind.ASSIGNMENT, parent=pool4)
    services.block_create(network="147.75.0.128/26", kind=Kind.ASSIGNMENT, parent=pool4)
    page = selectors.block_free_space(pool4, limit=3)
    assert [str(n) for n in page.blocks] == ["147.75.0.0/31", "147.75.0.4/30", "147.75.0.8/29"]
    rest = selectors.block_free_space(pool4, start=page.next_start, limit=100)
    assert [str(n) for n in rest.blocks] == ["147.75.0.16/28", "147.75.0.32/27", "147.75.0.64/26", "147.75.0.192/26"]
    assert rest.next_start is None
    # A cursor inside a taken block starts after it.
    inside = selectors.block_free_space(pool4, start=int(pool4.ip_network.network_address) + 130, limit=10)
    assert [str(n) for n in inside.blocks] == ["147.75.0.192/26"]


@pytest.mark.parametrize("family", [4, 6])
def test_free_space_splits_a_gap_as_summarize_address_range_does(family):
    """The page is split with bit arithmetic (no ipaddress object per block): the same blocks, text
    and page cursor as the standard library's split, on gaps of every size and alignment."""
    import ipaddress
    import random

    bits = selectors.BITS[family]
    factory = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    rng = random.Random(family)
    for _ in range(2000):
        first = 0 if rng.random() < 0.05 else rng.randrange(1 << bits)
        last = min((1 << bits) - 1, first + rng.randrange(1 << rng.randrange(1, bits)))
        expected = list(ipaddress.summarize_address_range(factory(first), factory(last)))
        limit = rng.randrange(1, 12)
        page = selectors._page([(first, last)], family, limit)
        assert page.texts() == [str(n) for n in expected[:limit]]
        assert page.blocks == expected[:limit]
        assert page.next_start == (int(expected[limit].network_address) if len(expected) > limit else None)


def test_free_space_of_a_big_ipv6_block_is_not_enumerated(supernet6, pool6):
    page = selectors.block_free_space(supernet6, limit=100)
    assert [str(n) for n in page.blocks] == [
        "2604:1380::/36", "2604:1380:1100::/40", "2604:1380:1200::/39", "2604:1380:1400::/38", "2604:1380:1800::/37",
        "2604:1380:2000::/35", "2604:1380:4000::/34", "2604:1380:8000::/33"]


def test_search_containing_and_contained(supernet4, pool4):
    assignment = services.block_allocate(parent=pool4, prefix_length=31)
    assert [b.network for b in selectors.blocks_containing("147.75.0.1")] == ["147.75.0.0/16", "147.75.0.0/24", "147.75.0.0/31"]
    assert [b.network for b in selectors.blocks_containing("147.75.0.0/25")] == ["147.75.0.0/16", "147.75.0.0/24"]
    assert [b.network for b in selectors.blocks_within("147.75.0.0/24")] == ["147.75.0.0/24", assignment.network]
    assert list(selectors.blocks_within("147.76.0.0/16")) == []


def _rows_read_from_blocks(sql: str) -> int:
    """Rows the plan of `sql` actually read from ipam_block (every scan node, times its loops)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict) -> int:
        own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == "ipam_block" else 0
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="free_from and the gap query are PostgreSQL's")
def test_free_space_of_a_pool_does_not_read_the_children_packed_before_its_first_gap(pool4):
    services.block_create(network="147.75.0.254/31", kind=Kind.ASSIGNMENT, parent=pool4)  # a child after the gap

    def listing() -> tuple[list[str], int, int]:
        with CaptureQueriesContext(connection) as queries:
            page = selectors.block_free_space(Block.objects.get(pk=pool4.pk), limit=50)
        gap_sql = [q["sql"] for q in queries.captured_queries if "gap_start" in q["sql"]]
        return [str(n) for n in page.blocks], len(queries.captured_queries), _rows_read_from_blocks(gap_sql[0])

    for _ in range(10):
        services.block_allocate(parent=pool4, prefix_length=31)
    few = listing()
    for _ in range(90):
        services.block_allocate(parent=pool4, prefix_length=31)
    many = listing()
    assert few[0][0] == "147.75.0.20/30" and many[0][0] == "147.75.0.200/29"
    # One query each (the block was loaded by the caller), reading the same rows with 10 or 100 /31s before the gap.
    assert few[1] == many[1] == 2  # the Block.objects.get() and the gap query
    assert few[2] == many[2] <= 3


def test_first_page_in_one_statement_is_the_same_listing(supernet4, pool4, supernet6, pool6):
    tiny = services.block_create(network="147.75.9.0/31", kind=Kind.POOL, parent=supernet4, facility=pool4.facility)
    services.block_allocate(parent=tiny, prefix_length=31)  # full
    services.block_create(network="147.75.0.254/31", kind=Kind.ASSIGNMENT, parent=pool4)
    for _ in range(5):
        services.block_allocate(parent=pool4, prefix_length=31)
    for block in (pool4, tiny, supernet4, supernet6, pool6):
        for limit in (1, 3, 50):
            fresh = Block.objects.get(pk=block.pk)
            loaded, page = selectors.block_free_space_first_page(block.pk, limit=limit)
            assert (loaded.network, loaded.family, loaded.first, loaded.last) == (fresh.network, fresh.family, fresh.first, fresh.last)
            assert page == selectors.block_free_space(fresh, limit=limit), (block.network, limit)
    assert selectors.block_free_space_first_page(999999) is None


def test_utilisation_by_id_in_one_statement_is_the_same(supernet4, pool4):
    assignment = services.block_allocate(parent=pool4, prefix_length=31)
    services.reservation_create(project=ProjectFactory(), pool=pool4, quantity=8)
    released = services.block_allocate(parent=pool4, prefix_length=30)
    services.block_release(block=released)
    for block in (supernet4, pool4, assignment, released):
        fresh = Block.objects.get(pk=block.pk)
        loaded, use = selectors.block_utilisation_by_id(block.pk)
        assert (loaded.network, loaded.kind, use) == (fresh.network, fresh.kind, selectors.block_utilisation(fresh))
    assert selectors.block_utilisation_by_id(999999) is None
