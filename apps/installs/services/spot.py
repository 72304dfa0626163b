"""The spot market: idle servers rented at a price that follows the idle pool, reclaimed with notice.

Price of a plan in a metro (docs/billing.md): with `idle` the ready servers no reservation holds and `pool` the
plan's servers in service there (ready, or holding a device),
    price = floor + (ceiling − floor) × (1 − idle / pool)      (ceiling when the pool is empty)
with floor = SPOT_FLOOR_RATIO × and ceiling = SPOT_CEILING_RATIO × the plan's list price per hour. Prices are
recorded (SpotPrice) when they change; spot devices are billed at the recorded price in force.

`spot_market_check()` (every minute) records prices, gives every spot device whose bid is now below the price
its `termination_time` (now + SPOT_TERMINATION_NOTICE_SECONDS) and an event, deprovisions those whose time has
come — like any delete: wipe, port reset, addresses released — and keeps spot market requests topped up.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.facilities.models import Metro
from apps.hardware.models import Plan, Server
from apps.installs.models import Device, OperatingSystem, SpotMarketRequest, SpotPrice
from apps.installs.services.orders import device_create, device_delete
from apps.installs.services.reservations import free_servers, in_force
from apps.installs.services.spot_notice import LIVE, spot_reclaim

IN_SERVICE = ("ready", "allocated", "provisioning", "active", "deprovisioning", "cleaning")
FOUR_PLACES = Decimal("0.0001")


def spot_price(*, plan: Plan, metro_id: Any, pools: dict[tuple[Any, Any], tuple[int, int]] | None = None) -> Decimal:
    """The price now, from the pool as it is (pools: (plan_id, metro_id) → (idle, in service), precomputed)."""
    idle, total = (pools or spot_pools()).get((plan.pk, metro_id), (0, 0))
    floor = plan.price_hourly * Decimal(str(settings.SPOT_FLOOR_RATIO))
    ceiling = plan.price_hourly * Decimal(str(settings.SPOT_CEILING_RATIO))
    busy = Decimal(1) if total == 0 else 1 - Decimal(idle) / Decimal(total)
    return (floor + (ceiling - floor) * busy).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def spot_pools() -> dict[tuple[Any, Any], tuple[int, int]]:
    """(plan, metro) → (idle servers, servers in service), in one grouped query."""
    reserved = in_force().values("server_id")
    rows = (Server.objects.filter(state__in=IN_SERVICE).exclude(pk__in=reserved)
            .values("plan_id", "facility__metro_id")
            .annotate(total=Count("pk"), idle=Count("pk", filter=Q(state="ready"))))
    return {(row["plan_id"], row["facility__metro_id"]): (row["idle"], row["total"]) for row in rows}


def spot_prices_now() -> list[tuple[Metro, Plan, Decimal]]:
    pools = spot_pools()
    metros = {m.pk: m for m in Metro.objects.all()}
    plans = {p.pk: p for p in Plan.objects.all()}
    return [(metros[metro_id], plans[plan_id], spot_price(plan=plans[plan_id], metro_id=metro_id, pools=pools))
            for plan_id, metro_id in sorted(pools, key=lambda key: (metros[key[1]].code, plans[key[0]].slug))]


def spot_prices_record(*, now: dt.datetime | None = None) -> int:
    """Record every (metro, plan) price that differs from its last recorded one; returns how many."""
    now = now or timezone.now()
    written = 0
    with transaction.atomic():
        for metro, plan, price in spot_prices_now():
            last = SpotPrice.objects.filter(metro=metro, plan=plan, at__lte=now).order_by("-at").values_list("price", flat=True).first()
            if last != price:
                SpotPrice.objects.create(metro=metro, plan=plan, price=price, at=now)
                written += 1
    return written


def spot_bid_check(*, plan: Plan, metro: Metro, bid: Any) -> Decimal:
    """Validate a bid for an order now: positive and not below the price. Returns it as a Decimal."""
    try:
        bid = Decimal(str(bid))
    except ArithmeticError:
        raise ValidationError({"spot_price_max": f"'{bid}' is not a price."}) from None
    if bid <= 0:
        raise ValidationError({"spot_price_max": "A bid must be more than zero."})
    price = spot_price(plan=plan, metro_id=metro.pk)
    if bid < price:
        raise ValidationError({"spot_price_max": f"The spot price of {plan.slug} in {metro.code} is {price} per hour, above the bid {bid}."})
    return bid


def spot_device_create(*, bid: Any, plan: Plan, metro: Metro | None = None, facility: Any = None, **order: Any) -> Device:
    """Order a spot device: the bid is checked against the price now, which is recorded for its billing."""
    metro = metro or facility.metro
    bid = spot_bid_check(plan=plan, metro=metro, bid=bid)
    with transaction.atomic():
        device = device_create(plan=plan, metro=metro, facility=facility, reclaim_spot=False, **order)
        Device.objects.filter(pk=device.pk).update(spot_instance=True, spot_price_max=bid)
        device.spot_instance, device.spot_price_max = True, bid
        spot_prices_record()
    return device


def spot_market_request_create(*, project: Any, metro: Metro, plan: Plan, operating_system: OperatingSystem, hostname: str,
                               devices_min: int, devices_max: int, max_bid_price: Any, end_at: dt.datetime | None = None,
                               actor: Any = None) -> SpotMarketRequest:
    """Open a request and order its first devices: at least devices_min now (else nothing is made, 422)."""
    if devices_min < 0 or devices_max < 1 or devices_min > devices_max:
        raise ValidationError({"devices_max": "Give 0 ≤ devices_min ≤ devices_max and devices_max ≥ 1."})
    bid = spot_bid_check(plan=plan, metro=metro, bid=max_bid_price)
    with transaction.atomic():
        request = SpotMarketRequest.objects.create(project=project, metro=metro, plan=plan, operating_system=operating_system,
                                                   hostname=hostname, devices_min=devices_min, devices_max=devices_max, max_bid_price=bid,
                                                   end_at=end_at, created_by=actor if getattr(actor, "is_authenticated", False) else None)
        made = _top_up(request, actor=actor)
        if made < devices_min:
            raise ValidationError({"devices_min": f"Only {made} {plan.slug} servers are free in {metro.code}; the request needs {devices_min}."})
        audit_record(action="installs.spotmarketrequest.create", target=request, actor=actor, changes={"devices": [None, made]})
    return request


def _top_up(request: SpotMarketRequest, *, actor: Any = None) -> int:
    live = request.devices.filter(state__in=LIVE, termination_time__isnull=True).count()
    made = 0
    if spot_price(plan=request.plan, metro_id=request.metro_id) > request.max_bid_price:
        return 0
    free = free_servers(plan=request.plan, metro=request.metro)
    for index in range(live + 1, min(request.devices_max, live + free) + 1):
        hostname = request.hostname.replace("{{index}}", f"{index:02d}") if "{{index}}" in request.hostname else f"{request.hostname}-{index:02d}"
        try:
            with transaction.atomic():
                device = spot_device_create(bid=request.max_bid_price, plan=request.plan, metro=request.metro, project=request.project,
                                            hostname=hostname, operating_system=request.operating_system, actor=actor)
                Device.objects.filter(pk=device.pk).update(spot_market_request=request)
        except ValidationError:
            break  # no server left, or the price rose above the bid: try again at the next check
        made += 1
    return made


def spot_market_request_close(*, request: SpotMarketRequest, actor: Any = None) -> int:
    """Close a request and delete its live devices; returns how many were deleted."""
    deleted = 0
    with transaction.atomic():
        locked = SpotMarketRequest.objects.select_for_update().get(pk=request.pk)
        if locked.closed_at is None:
            SpotMarketRequest.objects.filter(pk=locked.pk).update(closed_at=timezone.now())
        for device in locked.devices.filter(state__in=LIVE):
            device_delete(device=device, actor=actor, reason=f"spot market request {locked.pk} deleted")
            deleted += 1
        audit_record(action="installs.spotmarketrequest.close", target=locked, actor=actor, changes={"devices_deleted": [None, deleted]})
    return deleted


def spot_market_check(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The market's minute: record prices; notice for spot devices bid under the price; deprovision the expired;
    top requests up; close requests past their end."""
    now = now or timezone.now()
    counts = {"prices": spot_prices_record(now=now), "noticed": 0, "deprovisioned": 0, "topped_up": 0}
    pools = spot_pools()
    for device in Device.objects.filter(spot_instance=True, termination_time__isnull=True, state__in=LIVE).select_related("plan"):
        price = spot_price(plan=device.plan, metro_id=device.metro_id, pools=pools)
        if price > device.spot_price_max:
            spot_reclaim(device=device, reason=f"the spot price {price} rose above the bid {device.spot_price_max}", now=now)
            counts["noticed"] += 1
    for device in Device.objects.filter(spot_instance=True, termination_time__lte=now, state__in=LIVE):
        device_delete(device=device, reason="spot instance reclaimed: its termination time has come")
        counts["deprovisioned"] += 1
    for request in SpotMarketRequest.objects.filter(closed_at__isnull=True).select_related("plan", "metro", "project", "operating_system"):
        if request.end_at is not None and request.end_at <= now:
            spot_market_request_close(request=request)
            continue
        counts["topped_up"] += _top_up(request)
    return counts
