"""Rating from recorded history: the price book, its dates and the rounding rule, exactly."""
from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from apps.audit.models import StateChange
from apps.billing.models import PriceKind
from apps.billing.rating import MissingPrice, PriceBook, device_stretches, month_window, rate
from apps.billing.services import organization_usage, price_set
from apps.installs.models import DeviceState
from tests.billing.conftest import at, live, move
from tests.hardware.factories import PlanFactory

pytestmark = pytest.mark.django_db


def month_usage(device, month="2026-11", now="2026-12-02 00:00"):
    start, end = month_window(month)
    return rate(device_stretches(window_start=start, window_end=end, device_ids=[device.pk]), window_start=start, window_end=end,
                book=PriceBook(), now=at(now))


def test_transition_records_the_time_line(make_device) -> None:
    device = live(make_device(), "2026-11-10 10:00", "2026-11-10 13:10", deleted="2026-11-10 13:20")
    history = list(StateChange.objects.filter(model="installs.device", object_id=device.pk).values_list("source", "target", "at"))
    assert history == [("queued", "provisioning", at("2026-11-10 10:00")), ("provisioning", "active", at("2026-11-10 10:00")),
                       ("active", "deprovisioning", at("2026-11-10 13:10")), ("deprovisioning", "deleted", at("2026-11-10 13:20"))]


def test_three_hours_ten_minutes_across_a_price_change_each_started_hour(make_device) -> None:
    device = make_device()
    live(device, "2026-11-10 10:00")
    # Powered off and on again in between: still one stretch (the server stays held).
    move(device, DeviceState.POWERING_OFF, "2026-11-10 11:00")
    move(device, DeviceState.INACTIVE, "2026-11-10 11:01")
    move(device, DeviceState.POWERING_ON, "2026-11-10 11:30")
    move(device, DeviceState.ACTIVE, "2026-11-10 11:31")
    move(device, DeviceState.DEPROVISIONING, "2026-11-10 13:10")
    move(device, DeviceState.DELETED, "2026-11-10 13:25")
    usages = month_usage(device)
    # Hours starting 10:00 and 11:00 at 1.00 (before the 12:00 change); 12:00 and 13:00 (started) at 2.00.
    assert [(u.quantity, u.unit_price, u.total, u.start, u.end) for u in usages] == [
        (Decimal(2), Decimal("1.0000"), Decimal("2.00"), at("2026-11-10 10:00"), at("2026-11-10 12:00")),
        (Decimal(2), Decimal("2.0000"), Decimal("4.00"), at("2026-11-10 12:00"), at("2026-11-10 13:10")),
    ]
    assert sum(u.total for u in usages) == Decimal("6.00")


@override_settings(BILLING_INCREMENT_SECONDS=60)
def test_the_rounding_setting_per_started_minute(make_device) -> None:
    device = live(make_device(), "2026-11-10 10:00:30", "2026-11-10 13:10:31")
    usages = month_usage(device)
    # 10:00:30 → 12:00:30: minutes starting before 12:00 are 120 (10:00:30 … 11:59:30) at 1.00;
    # the rest, 12:00:30 … 13:10:30, are 71 started minutes at 2.00.
    assert [(u.seconds // 60, u.quantity, u.unit_price) for u in usages] == [(120, Decimal(2), Decimal("1.0000")),
                                                                     (71, Decimal("1.1833"), Decimal("2.0000"))]
    assert [u.total for u in usages] == [Decimal("2.00"), Decimal("2.37")]  # 71/60 h × 2.00 = 2.366… → 2.37


def test_an_hour_belongs_to_the_month_it_starts_in(make_device) -> None:
    device = live(make_device(), "2026-11-30 23:30", "2026-12-01 01:40")  # hours from 23:30, 00:30, 01:30
    november = month_usage(device)
    december = month_usage(device, "2026-12", now="2026-12-05 00:00")
    assert [u.quantity for u in november] == [Decimal(1)] and [u.quantity for u in december] == [Decimal(2)]


def test_a_metro_price_overrides_the_general_one_from_its_date(make_device, site) -> None:
    price_set(kind=PriceKind.DEVICE, plan=site["plan"], metro=site["metro"], amount=Decimal("5"), valid_from=at("2026-11-10 11:00"))
    device = live(make_device(), "2026-11-10 10:00", "2026-11-10 12:30")
    assert [(u.quantity, u.unit_price) for u in month_usage(device)] == [(Decimal(1), Decimal("1.0000")), (Decimal(2), Decimal("5.0000"))]


def test_rerating_and_late_events_never_change_a_closed_window(make_device) -> None:
    device = live(make_device(), "2026-11-10 10:00")
    first = month_usage(device)
    assert first == month_usage(device)  # the meter is a pure function of history: run it again, same answer
    # Much later the device goes away; November was already over and stays exactly what it was.
    move(device, DeviceState.DEPROVISIONING, "2026-12-03 08:00")
    assert month_usage(device, now="2026-12-04 00:00") == month_usage(device, now="2027-01-01 00:00") == first
    assert sum(u.quantity for u in first) == Decimal(21 * 24 - 10)  # Nov 10 10:00 → Dec 1 00:00


def test_a_missing_price_is_an_error_for_the_invoice(make_device, site) -> None:
    plan = PlanFactory()
    device = live(make_device(plan=plan), "2026-11-10 10:00", "2026-11-10 11:00")
    start, end = month_window("2026-11")
    with pytest.raises(MissingPrice, match=plan.slug):
        organization_usage(organization_id=device.project.organization_id, window_start=start, window_end=end, strict=True)
    shown = organization_usage(organization_id=device.project.organization_id, window_start=start, window_end=end)
    assert [(u.quantity, u.unit_price) for u in shown] == [(Decimal(1), Decimal(0))]


def test_ip_reservations_are_billed_per_address_for_their_lifetime(site, make_device) -> None:
    from apps.ipam import services as ipam
    from apps.ipam.models import Kind

    supernet = ipam.block_create(network="198.51.100.0/24", kind=Kind.SUPERNET)
    pool = ipam.block_create(network="198.51.100.0/25", kind=Kind.POOL, parent=supernet, facility=site["facility"], public=True)
    project = make_device().project
    with time_machine.travel(at("2026-11-05 00:00"), tick=False):
        block = ipam.reservation_create(project=project, pool=pool, network="198.51.100.8/29")
    with time_machine.travel(at("2026-11-06 00:00"), tick=False):
        ipam.block_release(block=block)
    start, end = month_window("2026-11")
    usages = organization_usage(organization_id=project.organization_id, window_start=start, window_end=end, now=at("2026-12-02 00:00"))
    assert [(u.kind, u.quantity, u.unit_price, u.total) for u in usages] == [(PriceKind.PUBLIC_IPV4, Decimal(24 * 8), Decimal("0.0050"), Decimal("0.96"))]


def test_a_reservation_is_billed_per_started_month_of_its_term_and_its_device_is_not(site, make_device) -> None:
    from apps.installs.services.reservations import hardware_reservation_create
    from tests.hardware.factories import ServerFactory

    server = ServerFactory(facility=site["facility"], plan=site["plan"])
    project = make_device().project
    with time_machine.travel(at("2026-10-20 00:00"), tick=False):
        reservation = hardware_reservation_create(project=project, server=server, ends_at=at("2027-01-20 00:00"), custom_rate=Decimal("700"))
    device = make_device(project=project, hardware_reservation=reservation)
    live(device, "2026-11-02 00:00", "2026-11-09 00:00")
    start, end = month_window("2026-11")
    usages = organization_usage(organization_id=project.organization_id, window_start=start, window_end=end, strict=True, now=at("2026-12-02 00:00"))
    # The term month starting Nov 20 falls in November; the device on it has no hourly line.
    assert [(u.kind, u.quantity, u.total, u.start) for u in usages] == [(PriceKind.RESERVED_HARDWARE, Decimal(1), Decimal("700.00"), at("2026-11-20 00:00"))]


def test_a_spot_device_is_billed_at_the_market_price_in_force_each_hour(site, make_device) -> None:
    from apps.hardware.services import server_transition
    from apps.installs.services.spot import spot_prices_record
    from tests.hardware.factories import ServerFactory

    servers = [ServerFactory(facility=site["facility"], plan=site["plan"]) for _ in range(2)]  # list price 0.50: floor 0.10, ceiling 0.50
    with time_machine.travel(at("2026-11-10 09:00"), tick=False):
        spot_prices_record()  # both idle: 0.10
    with time_machine.travel(at("2026-11-10 11:00"), tick=False):
        server_transition(server=servers[0], to="allocated", reason="test")
        spot_prices_record()  # one of two idle: 0.30
    device = make_device(spot_instance=True, spot_price_max=Decimal("0.45"))
    live(device, "2026-11-10 10:00", "2026-11-10 12:30")
    assert [(u.quantity, u.unit_price, u.total) for u in month_usage(device)] == [
        (Decimal(1), Decimal("0.1000"), Decimal("0.10")), (Decimal(2), Decimal("0.3000"), Decimal("0.60"))]
