"""The block tree's writes: refusals with messages, first-fit alignment, IPv6, release and reuse."""
from __future__ import annotations

import ipaddress
import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from apps.audit.context import acting_as
from apps.audit.models import AuditEvent
from apps.audit.services import diff, snapshot
from apps.ipam import selectors, services
from apps.ipam.models import Assignment, Block, Kind
from tests.factories import ProjectFactory, UserFactory


def _message(exc: pytest.ExceptionInfo) -> str:
    return " ".join(exc.value.messages)


# ---------------------------------------------------------------------- refusals


def test_host_bits_set_is_refused_with_the_fix(db):
    with pytest.raises(ValidationError) as exc:
        services.block_create(network="147.75.0.1/16", kind=Kind.SUPERNET)
    assert "host bits set; did you mean 147.75.0.0/16?" in _message(exc)


def test_garbage_is_refused(db):
    with pytest.raises(ValidationError) as exc:
        services.block_create(network="147.75.0/33", kind=Kind.SUPERNET)
    assert "is not an IPv4 or IPv6 network" in _message(exc)


def test_prefix_larger_than_parent_is_refused(pool4):
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="147.75.0.0/16", kind=Kind.ASSIGNMENT, parent=pool4)
    assert "larger than its parent 147.75.0.0/24" in _message(exc)


def test_outside_parent_is_refused(pool4):
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="147.75.9.0/31", kind=Kind.ASSIGNMENT, parent=pool4)
    assert "147.75.9.0/31 does not lie inside its parent 147.75.0.0/24" in _message(exc)


def test_mixed_family_is_refused(pool4):
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="2604:1380::/127", kind=Kind.ASSIGNMENT, parent=pool4)
    assert "2604:1380::/127 is IPv6 but its parent 147.75.0.0/24 is IPv4" in _message(exc)


def test_overlap_names_the_conflicting_block(supernet4, facility, other_facility):
    services.block_create(network="147.75.0.0/24", kind=Kind.POOL, parent=supernet4, facility=facility)
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="147.75.0.128/25", kind=Kind.POOL, parent=supernet4, facility=other_facility)
    assert "147.75.0.128/25 overlaps the facility pool 147.75.0.0/24 in facility da11" in _message(exc)


def test_overlapping_roots_are_refused(supernet4):
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="147.0.0.0/8", kind=Kind.SUPERNET)
    assert "overlaps the supernet 147.75.0.0/16" in _message(exc)


def test_wrong_kind_of_parent_is_refused(supernet4):
    project = ProjectFactory()
    with pytest.raises(services.BlockConflict) as exc:
        services.block_create(network="147.75.8.0/29", kind=Kind.RESERVATION, parent=supernet4, project=project)
    assert "cannot sit under the supernet 147.75.0.0/16" in _message(exc)


def test_pool_needs_a_facility_or_metro(supernet4):
    with pytest.raises(ValidationError) as exc:
        services.block_create(network="147.75.1.0/24", kind=Kind.POOL, parent=supernet4)
    assert "exactly one facility or one metro" in _message(exc)


def test_parent_is_found_when_not_given(pool4):
    block = services.block_create(network="147.75.0.64/31", kind=Kind.ASSIGNMENT)
    assert block.parent_id == pool4.pk
    assert block.gateway == "147.75.0.64"
    assert block.address == "147.75.0.65"


def test_public_flag_follows_the_space(supernet4, private_supernet):
    assert supernet4.public is True
    assert private_supernet.public is False


# ---------------------------------------------------------------------- first fit


def test_first_fit_aligns_each_block_on_its_own_size(pool4):
    a = services.block_allocate(parent=pool4, prefix_length=31)
    assert selectors.network_at(4, selectors.first_fit(pool4, 29), 29) == ipaddress.ip_network("147.75.0.8/29")  # the preview agrees
    b = services.block_allocate(parent=pool4, prefix_length=29)
    c = services.block_allocate(parent=pool4, prefix_length=31)
    d = services.block_allocate(parent=pool4, prefix_length=28)
    assert a.network == "147.75.0.0/31"
    assert b.network == "147.75.0.8/29"  # the next /29 boundary after the /31, not .2
    assert c.network == "147.75.0.2/31"  # fills the hole the alignment left
    assert d.network == "147.75.0.16/28"
    assert a.gateway == "147.75.0.0" and a.address == "147.75.0.1"


def test_first_fit_skips_space_taken_by_an_exact_block(pool4):
    services.block_create(network="147.75.0.0/30", kind=Kind.ASSIGNMENT, parent=pool4)
    assert services.block_allocate(parent=pool4, prefix_length=30).network == "147.75.0.4/30"


def test_pool_exhaustion_is_a_clear_error(supernet4, facility):
    tiny = services.block_create(network="147.75.200.0/30", kind=Kind.POOL, parent=supernet4, facility=facility)
    services.block_allocate(parent=tiny, prefix_length=31)
    services.block_allocate(parent=tiny, prefix_length=31)
    with pytest.raises(services.SpaceExhausted) as exc:
        services.block_allocate(parent=tiny, prefix_length=31)
    assert "No free /31 is left in facility pool 147.75.200.0/30 in facility da11" in _message(exc)


def test_ipv6_127_out_of_a_64(supernet6, facility):
    pool = services.block_create(network="2604:1380:4641:a00::/64", kind=Kind.POOL, parent=supernet6, facility=facility)
    first = services.block_allocate(parent=pool, prefix_length=127)
    second = services.block_allocate(parent=pool, prefix_length=127)
    assert first.network == "2604:1380:4641:a00::/127"
    assert second.network == "2604:1380:4641:a00::2/127"
    assert first.gateway == "2604:1380:4641:a00::" and first.address == "2604:1380:4641:a00::1"


def test_ipv6_56_out_of_a_32(supernet6, facility):
    pool = services.block_create(network="2604:1380:2000::/36", kind=Kind.POOL, parent=supernet6, facility=facility)
    project = ProjectFactory()
    services.block_create(network="2604:1380:2000::/127", kind=Kind.ASSIGNMENT, parent=pool)
    reservation = services.reservation_create(project=project, pool=pool, family=6, prefix_length=56)
    assert reservation.network == "2604:1380:2000:100::/56"  # the first /56 is partly taken
    again = services.reservation_create(project=project, facility=pool.facility, family=6, prefix_length=56)
    assert again.network == "2604:1380:2000:200::/56"


def test_ipv6_56_straight_out_of_a_32_pool(facility):
    root = services.block_create(network="2a00::/24", kind=Kind.SUPERNET)
    pool = services.block_create(network="2a00:10::/32", kind=Kind.POOL, parent=root, facility=facility)
    project = ProjectFactory()
    first = services.reservation_create(project=project, pool=pool, family=6, prefix_length=56)
    second = services.reservation_create(project=project, pool=pool, family=6, prefix_length=56)
    assert (first.network, second.network) == ("2a00:10::/56", "2a00:10:0:100::/56")
    assert selectors.block_utilisation(pool).allocated == 2 * 2**72


def test_choosing_among_pools_of_a_facility_then_its_metro(supernet4, facility, metro):
    small = services.block_create(network="147.75.10.0/31", kind=Kind.POOL, parent=supernet4, facility=facility)
    second = services.block_create(network="147.75.11.0/30", kind=Kind.POOL, parent=supernet4, facility=facility)
    metro_pool = services.block_create(network="147.75.12.0/24", kind=Kind.POOL, parent=supernet4, metro=metro)
    got = [services.block_allocate_from_pools(family=4, public=True, prefix_length=31, facility=facility) for _ in range(4)]
    assert [b.parent_id for b in got] == [small.pk, second.pk, second.pk, metro_pool.pk]
    with pytest.raises(services.SpaceExhausted) as exc:
        services.block_allocate_from_pools(family=6, public=True, prefix_length=127, facility=facility)
    assert "There is no public IPv6 pool for facility da11" in _message(exc)


# ---------------------------------------------------------------------- reservations, assignments, release


def test_reservation_and_assignment_inherit_the_project(pool4):
    project = ProjectFactory()
    reservation = services.reservation_create(project=project, pool=pool4, quantity=8)
    assert reservation.network == "147.75.0.0/29" and reservation.project == project
    assignment = services.assignment_create(parent=reservation, device_label="web-1")
    assert assignment.network == "147.75.0.0/32" and assignment.project == project and assignment.gateway is None
    exact = services.assignment_create(parent=reservation, network="147.75.0.4/31", device_label="web-2")
    assert exact.gateway == "147.75.0.4"
    with pytest.raises(services.BlockConflict) as exc:
        services.assignment_create(parent=reservation, project=ProjectFactory())
    assert "is reserved for project" in _message(exc)


def test_quantity_must_be_a_power_of_two(pool4):
    with pytest.raises(ValidationError) as exc:
        services.reservation_create(project=ProjectFactory(), pool=pool4, quantity=6)
    assert "not a power of two" in _message(exc)


def test_release_frees_the_space_for_reuse_and_keeps_history(pool4):
    first = services.block_allocate(parent=pool4, prefix_length=31, device_label="a")
    services.block_allocate(parent=pool4, prefix_length=31, device_label="b")
    services.block_release(block=first, reason="device deleted")
    again = services.block_allocate(parent=pool4, prefix_length=31, device_label="c")
    assert again.network == first.network
    assert Assignment.objects.filter(network="147.75.0.0/31").count() == 2  # the released one is history
    assert AuditEvent.objects.filter(action="ipam.assignment.release", reason="device deleted").count() == 1
    with pytest.raises(services.BlockConflict) as exc:
        services.block_release(block=Block.objects.get(pk=first.pk))
    assert "already released" in _message(exc)


def test_a_reservation_with_active_assignments_is_not_released(pool4):
    reservation = services.reservation_create(project=ProjectFactory(), pool=pool4, quantity=4)
    assignment = services.assignment_create(parent=reservation)
    with pytest.raises(services.BlockConflict) as exc:
        services.block_release(block=reservation)
    assert "still has 1 active assignment(s); release them first" in _message(exc)
    services.block_release(block=assignment)
    services.block_release(block=reservation)
    with pytest.raises(services.BlockConflict):
        services.assignment_create(parent=Block.objects.get(pk=reservation.pk))


def test_provider_space_with_history_is_not_deleted(pool4, supernet4):
    services.block_release(block=services.block_allocate(parent=pool4, prefix_length=31))
    with pytest.raises(services.BlockConflict) as exc:
        services.block_delete(block=pool4)
    assert "holds 1 block(s), active or historical" in _message(exc)
    empty = services.block_create(network="147.75.1.0/24", kind=Kind.POOL, parent=supernet4, metro=pool4.facility.metro)
    services.block_delete(block=empty)
    assert not Block.objects.filter(pk=empty.pk).exists()


def test_every_write_is_audited(pool4):
    block = services.block_allocate(parent=pool4, prefix_length=31, device_label="x")
    event = AuditEvent.objects.get(action="ipam.assignment.create", target_id=str(block.pk))
    assert event.changes["network"] == [None, "147.75.0.0/31"]


def test_an_allocation_is_audited_as_audit_record_would(pool4):
    # On PostgreSQL the allocation's statement writes its own event; it must say the same as audit_record().
    user = UserFactory()
    project = ProjectFactory()
    with acting_as(user, request_id="req-ipam-1", source_ip="192.0.2.7"):
        block = services.block_allocate(parent=pool4, prefix_length=29, kind=Kind.RESERVATION, project=project, description="why")
        device = uuid.uuid4()
        assignment = services.assignment_create(parent=block, prefix_length=31, device_id=device, device_label="web-1")
    for made, model in ((block, Block), (assignment, Assignment)):
        event = AuditEvent.objects.get(action=f"ipam.{made.kind}.create", target_id=str(made.pk))
        assert (event.actor_type, event.actor_id, event.actor_name) == ("user", str(user.pk), user.get_username())
        assert (event.request_id, event.source_ip, event.target_repr) == ("req-ipam-1", "192.0.2.7", made.network)
        assert event.target_type == ContentType.objects.get_for_model(model, for_concrete_model=False)
        fields = ["network", "kind", "parent", "project", "facility", "metro", "device_id", "device_label"]
        assert event.changes == diff({}, snapshot(Block.objects.get(pk=made.pk), fields))
    assert event.changes["device_id"] == [None, str(device)] and event.changes["project"] == [None, str(project.pk)]


def test_a_refused_allocation_writes_nothing(pool4):
    reservation = services.reservation_create(project=ProjectFactory(), pool=pool4, quantity=8)
    services.assignment_create(parent=reservation, prefix_length=30)
    before = (Block.objects.count(), AuditEvent.objects.count())
    with pytest.raises(services.BlockConflict, match="is reserved for project"):
        services.assignment_create(parent=reservation, project=ProjectFactory())
    with pytest.raises(services.SpaceExhausted, match="No free /29 is left"):
        services.block_allocate(parent=reservation, prefix_length=29)
    with pytest.raises(services.BlockConflict, match="larger than its parent"):
        services.block_allocate(parent=reservation, prefix_length=28)
    assert (Block.objects.count(), AuditEvent.objects.count()) == before


def test_free_space_of_an_empty_pool_after_release(pool4):
    block = services.block_allocate(parent=pool4, prefix_length=31)
    services.block_release(block=block)
    assert [str(n) for n in selectors.block_free_space(pool4).blocks] == ["147.75.0.0/24"]


def test_first_fit_after_release_on_one_connection(pool4):
    # More than five allocations on one connection: PostgreSQL's PL/pgSQL then plans once for all values.
    blocks = [services.block_allocate(parent=pool4, prefix_length=31) for _ in range(8)]
    services.block_release(block=blocks[2])  # frees 147.75.0.4/31, below everything else
    assert services.block_allocate(parent=pool4, prefix_length=30).network == "147.75.0.16/30"
    assert services.block_allocate(parent=pool4, prefix_length=31).network == "147.75.0.4/31"
    assert services.block_allocate(parent=pool4, prefix_length=31).network == "147.75.0.20/31"

