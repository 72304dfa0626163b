"""Rating: recorded history × the dated price book → priced usage. Only reads; the same history and book
always give the same figures, whoever asks and however often (there is no meter state to drift).

What is billed (docs/billing.md):
- a device while it is in a BILLABLE_STATES state, from its StateChange time line; consecutive billable
  states (active → powering_off → inactive …) are one stretch;
- a project's IP reservation from `assigned_at` to `released_at` (public IPv4 per address, IPv6 and
  private IPv4 per block); the /31s and /127s provisioning gives a device are part of the device.

Rounding, the one setting BILLING_INCREMENT_SECONDS (env METALYARD_BILLING_INCREMENT_SECONDS, 3600: each started hour): a stretch is cut
into increments counted from its own start; every started increment is billed in full, at the price in
force when it starts, in the month (or query window) it starts in. So a window's figures add up exactly
to the whole's, and a price change takes effect from the first increment that starts on or after its date.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.billing.models import PRICE_UNITS, Price, PriceKind
from apps.installs.models import Device, DeviceState, HardwareReservation, SpotPrice
from apps.ipam.models import Block, Kind

SPOT = "spot"  # a spot device: priced from the market's recorded prices (SpotPrice), not from the price book
BILLABLE_STATES = (DeviceState.ACTIVE, DeviceState.POWERING_OFF, DeviceState.INACTIVE, DeviceState.POWERING_ON,
                   DeviceState.REINSTALLING, DeviceState.RESCUE)
CENT = Decimal("0.01")
HOUR = Decimal(3600)


class MissingPrice(Exception):
    """Something was used for which the price book has no price in force (the meter refuses to invoice it)."""

    def __init__(self, kind: str, plan: str, metro: str, at: dt.datetime) -> None:
        self.kind, self.plan, self.metro, self.at = kind, plan, metro, at
        what = f"{'spot ' if kind == SPOT else ''}plan {plan}" if plan else PriceKind(kind).label
        super().__init__(f"No price for {what} in metro {metro or '(none)'} in force at {at.isoformat()}; add one to the price book.")


def increment_seconds() -> int:
    return int(settings.BILLING_INCREMENT_SECONDS)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Usage:
    """One priced stretch: `quantity` units of `unit` at `unit_price` (a stretch that crosses a price change
    gives one Usage per price)."""

    kind: str
    service_id: str
    project_id: UUID
    organization_id: UUID
    name: str
    plan: str
    metro: str
    facility: str
    unit: str
    seconds: int  # billed seconds (× addresses for a block priced per address): whole increments
    unit_price: Decimal
    start: dt.datetime
    end: dt.datetime
    months: int = 0  # a reservation: started months of its term (then `seconds` is 0)

    @property
    def quantity(self) -> Decimal:
        """Billed hours (address-hours, or months of a term), to four places; the total uses the exact seconds."""
        if self.months:
            return Decimal(self.months)
        return (Decimal(self.seconds) / HOUR).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        if self.months:
            return money(self.months * self.unit_price)
        return money(Decimal(self.seconds) * self.unit_price / HOUR)


class PriceBook:
    """The whole book in memory (it is small: kinds × plans × metros × dates), answering "which prices were
    in force over [start, end)" for one key."""

    def __init__(self, prices: Iterable[Price] | None = None) -> None:
        self._entries: dict[tuple[str, Any, Any], list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
        rows = prices if prices is not None else Price.objects.all()
        for price in rows:
            self._entries[(price.kind, price.plan_id, price.metro_id)].append((price.valid_from, price.amount))
        for plan_id, metro_id, at, amount in SpotPrice.objects.values_list("plan_id", "metro_id", "at", "price"):
            self._entries[(SPOT, plan_id, metro_id)].append((at, amount))
        for entries in self._entries.values():
            entries.sort()

    def at(self, kind: str, plan_id: Any, metro_id: Any, moment: dt.datetime) -> Decimal | None:
        # The metro's own price wins once it is in force; before that, the every-metro price.
        for key in ((kind, plan_id, metro_id), (kind, plan_id, None)):
            found = None
            for valid_from, amount in self._entries.get(key, ()):
                if valid_from > moment:
                    break
                found = amount
            if found is not None:
                return found
        return None

    def segments(self, kind: str, plan_id: Any, metro_id: Any, start: dt.datetime,
                 end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime, Decimal | None]]:
        """(from, to, price) pieces covering [start, end); price None where the book has none."""
        cuts = sorted({valid_from for key in ((kind, plan_id, metro_id), (kind, plan_id, None))
                       for valid_from, _ in self._entries.get(key, ()) if start < valid_from < end})
        pieces: list[tuple[dt.datetime, dt.datetime, Decimal | None]] = []
        for lo, hi in itertools.pairwise([start, *cuts, end]):
            price = self.at(kind, plan_id, metro_id, lo)
            if pieces and pieces[-1][2] == price:  # a change of a price that is not the one in force here
                pieces[-1] = (pieces[-1][0], hi, price)
            else:
                pieces.append((lo, hi, price))
        yield from pieces


def _started_increments(anchor: dt.datetime, lo: dt.datetime, hi: dt.datetime, step: dt.timedelta) -> int:
    """How many increments anchor + k·step (k ≥ 0) start in [lo, hi), with lo ≥ anchor; exact integer arithmetic."""
    if hi <= lo:
        return 0
    step_us = step // dt.timedelta(microseconds=1)

    def starts_before(moment: dt.datetime) -> int:  # increments starting strictly before `moment`
        offset = (moment - anchor) // dt.timedelta(microseconds=1)
        return -(-offset // step_us)

    return starts_before(hi) - starts_before(lo)


@dataclass(frozen=True)
class Stretch:
    kind: str
    service_id: str
    project_id: UUID
    organization_id: UUID
    name: str
    plan_id: Any
    plan: str
    metro_id: Any
    metro: str
    facility: str
    start: dt.datetime
    end: dt.datetime | None  # None: still running
    multiplier: int = 1  # addresses of an IPv4 block priced per address


def rate(stretches: Iterable[Stretch], *, window_start: dt.datetime, window_end: dt.datetime, book: PriceBook,
         now: dt.datetime | None = None, strict: bool = False) -> list[Usage]:
    """Price every increment of `stretches` that starts in [window_start, window_end). With `strict`, an
    increment without a price raises MissingPrice; otherwise it is shown at price 0."""
    now = now or timezone.now()
    step = dt.timedelta(seconds=increment_seconds())
    usages: list[Usage] = []
    for stretch in stretches:
        end = min(stretch.end or now, now)
        lo, hi = max(stretch.start, window_start), min(end, window_end)
        if hi <= lo:
            continue
        for seg_lo, seg_hi, price in book.segments(stretch.kind, stretch.plan_id, stretch.metro_id, lo, hi):
            count = _started_increments(stretch.start, seg_lo, seg_hi, step)
            if count == 0:
                continue
            if price is None:
                if strict:
                    raise MissingPrice(stretch.kind, stretch.plan, stretch.metro, seg_lo)
                price = Decimal(0)
            first = stretch.start + step * _started_increments(stretch.start, stretch.start, seg_lo, step)
            usages.append(Usage(kind=stretch.kind, service_id=stretch.service_id, project_id=stretch.project_id,
                                organization_id=stretch.organization_id, name=stretch.name, plan=stretch.plan,
                                metro=stretch.metro, facility=stretch.facility, unit=PRICE_UNITS[stretch.kind],
                                seconds=increment_seconds() * count * stretch.multiplier, unit_price=price,
                                start=first, end=min(first + step * count, end)))
    return usages


# ---------------------------------------------------------------------------------------------- history
_SPANS_SQL = """
WITH changes AS (
    SELECT object_id, at, id,
           lead(at) OVER w AS until,
           CASE WHEN target IN ({states}) THEN 1 ELSE 0 END AS billable,
           CASE WHEN lag(target) OVER w IN ({states}) THEN 1 ELSE 0 END AS prev_billable
    FROM audit_statechange
    WHERE model = 'installs.device' AND at < %s {device_filter}
    WINDOW w AS (PARTITION BY object_id ORDER BY at, id)
), islands AS (
    SELECT object_id, at, until, billable,
           SUM(CASE WHEN billable = 1 AND prev_billable = 0 THEN 1 ELSE 0 END)
               OVER (PARTITION BY object_id ORDER BY at, id ROWS UNBOUNDED PRECEDING) AS island
    FROM changes
)
SELECT object_id, MIN(at), MAX(until), MAX(CASE WHEN until IS NULL THEN 1 ELSE 0 END)
FROM islands WHERE billable = 1
GROUP BY object_id, island
HAVING MAX(CASE WHEN until IS NULL THEN 1 ELSE 0 END) = 1 OR MAX(until) > %s
"""


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    parsed = parse_datetime(str(value))  # SQLite hands aggregates back as text
    assert parsed is not None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def device_stretches(*, window_start: dt.datetime, window_end: dt.datetime, project_ids: list[Any] | None = None,
                     device_ids: list[Any] | None = None) -> list[Stretch]:
    """Billable stretches of devices that overlap the window, from their recorded state changes."""
    params: list[Any] = [window_end]
    device_filter = ""
    devices = Device.objects.all()
    if project_ids is not None:
        devices = devices.filter(project_id__in=project_ids)
    if device_ids is not None:
        devices = devices.filter(pk__in=device_ids)
    if project_ids is not None or device_ids is not None:
        device_sql, device_params = devices.values("pk").query.sql_with_params()
        device_filter = f"AND object_id IN ({device_sql})"
        params += list(device_params)
    params.append(window_start)
    states = ", ".join(f"'{state}'" for state in BILLABLE_STATES)
    with connection.cursor() as cursor:
        cursor.execute(_SPANS_SQL.format(states=states, device_filter=device_filter), params)
        spans = cursor.fetchall()
    if not spans:
        return []
    ids = {UUID(str(row[0])) for row in spans}
    info = {row["pk"]: row for row in Device.objects.filter(pk__in=ids).values(
        "pk", "hostname", "project_id", "project__organization_id", "plan_id", "plan__slug", "metro_id", "metro__code",
        "facility__code", "server__facility__code", "hardware_reservation_id", "spot_instance")}
    stretches = []
    for object_id, start, until, open_ended in spans:
        device = info[UUID(str(object_id))]
        if device["hardware_reservation_id"] is not None:
            continue  # its server is paid for by the reservation's term
        stretches.append(Stretch(
            kind=SPOT if device["spot_instance"] else PriceKind.DEVICE, service_id=str(device["pk"]), project_id=device["project_id"],
            organization_id=device["project__organization_id"], name=device["hostname"], plan_id=device["plan_id"],
            plan=device["plan__slug"], metro_id=device["metro_id"], metro=device["metro__code"] or "",
            facility=device["server__facility__code"] or device["facility__code"] or "",
            start=_as_datetime(start), end=None if open_ended else _as_datetime(until)))
    stretches.sort(key=lambda s: (s.start, s.service_id))
    return stretches


def block_stretches(*, window_start: dt.datetime, window_end: dt.datetime, project_ids: list[Any] | None = None) -> list[Stretch]:
    """Projects' IP reservations that overlap the window, from their assigned_at / released_at."""
    blocks = (Block.objects.filter(kind=Kind.RESERVATION, project__isnull=False, assigned_at__lt=window_end)
              .filter(Q(released_at__isnull=True) | Q(released_at__gt=window_start)))
    if project_ids is not None:
        blocks = blocks.filter(project_id__in=project_ids)
    stretches = []
    for block in blocks.select_related("project", "parent__facility__metro", "parent__metro").order_by("assigned_at", "pk"):
        pool = block.parent
        metro = pool.facility.metro if pool is not None and pool.facility_id else (pool.metro if pool is not None else None)
        if block.family == 6:
            kind, multiplier = PriceKind.PUBLIC_IPV6, 1
        elif block.public:
            kind, multiplier = PriceKind.PUBLIC_IPV4, block.size
        else:
            kind, multiplier = PriceKind.PRIVATE_IPV4, 1
        stretches.append(Stretch(
            kind=kind, service_id=str(block.pk), project_id=block.project_id, organization_id=block.project.organization_id,
            name=block.network, plan_id=None, plan="", metro_id=metro.pk if metro else None, metro=metro.code if metro else "",
            facility=pool.facility.code if pool is not None and pool.facility_id else "", start=block.assigned_at,
            end=block.released_at, multiplier=multiplier))
    return stretches


def reservation_usage(*, window_start: dt.datetime, window_end: dt.datetime, book: PriceBook, project_ids: list[Any] | None = None,
                      now: dt.datetime | None = None, strict: bool = False) -> list[Usage]:
    """Hardware reservations: every started month of the term (counted from its start) is billed in full at the
    reservation's own rate, or the book's reserved_hardware price for the plan when it has none, in the month
    (or window) in which it starts."""
    now = now or timezone.now()
    reservations = HardwareReservation.objects.filter(starts_at__lt=min(window_end, now), ends_at__gt=window_start)
    if project_ids is not None:
        reservations = reservations.filter(project_id__in=project_ids)
    usages = []
    for reservation in reservations.select_related("project", "server__plan", "server__facility__metro").order_by("starts_at", "pk"):
        server = reservation.server
        end = min(reservation.ends_at, now, window_end)
        first_month, months, month_start = None, 0, reservation.starts_at
        for index in range(1200):  # a century of months bounds the loop
            month_start = reservation.starts_at + relativedelta(months=index)
            if month_start >= end:
                break
            if month_start >= window_start:
                first_month = first_month or month_start
                months += 1
        if not months:
            continue
        price = reservation.custom_rate
        if price is None:
            price = book.at(PriceKind.RESERVED_HARDWARE, server.plan_id, server.facility.metro_id, first_month)
        if price is None:
            if strict:
                raise MissingPrice(PriceKind.RESERVED_HARDWARE, server.plan.slug, server.facility.metro.code, first_month)
            price = Decimal(0)
        usages.append(Usage(kind=PriceKind.RESERVED_HARDWARE, service_id=str(reservation.pk), project_id=reservation.project_id,
                            organization_id=reservation.project.organization_id, name=server.serial, plan=server.plan.slug,
                            metro=server.facility.metro.code, facility=server.facility.code, unit=PRICE_UNITS[PriceKind.RESERVED_HARDWARE],
                            seconds=0, months=months, unit_price=Decimal(price), start=first_month,
                            end=min(month_start, reservation.ends_at)))
    return usages


def month_window(month: str) -> tuple[dt.datetime, dt.datetime]:
    """'2026-11' → [2026-11-01 00:00 UTC, 2026-12-01 00:00 UTC); ValueError with a readable message."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = dt.datetime(year, number, 1, tzinfo=dt.UTC)
    except (ValueError, TypeError):
        raise ValueError(f"'{month}' is not a month; write it as YYYY-MM, e.g. 2026-11.") from None
    end = dt.datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end
