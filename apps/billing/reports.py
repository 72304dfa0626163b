"""The staff's view of the business, from the same records billing uses: revenue per facility and plan (issued
invoices), utilisation over time (servers rented ÷ servers ready or rented, from the servers' state history)
and the spot price history."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum

from apps.billing.models import InvoiceLine
from apps.billing.rating import month_window
from apps.installs.models import SpotPrice

RENTED = ("allocated", "provisioning", "active")
READY = ("ready",)
CENT = Decimal("0.01")

_STATES_AT = """
SELECT target, COUNT(*) FROM (
    SELECT target, ROW_NUMBER() OVER (PARTITION BY object_id ORDER BY at DESC, id DESC) AS newest
    FROM audit_statechange WHERE model = 'hardware.server' AND at < %s
) latest WHERE newest = 1 GROUP BY target
"""


def revenue(month: str) -> list[dict[str, Any]]:
    """Issued usage charges of `month` per location (facility or metro) and plan, largest first."""
    start, _ = month_window(month)
    rows = (InvoiceLine.objects.filter(invoice__period_start=start.date()).exclude(item_type="credit")
            .values("location", "plan").annotate(amount=Sum("amount")).order_by("-amount", "location", "plan"))
    # In cents whatever the database's SUM gives back (SQLite's drops the scale: 6 rather than 6.00).
    return [{"location": r["location"], "plan": r["plan"] or "(addresses)", "amount": Decimal(r["amount"] or 0).quantize(CENT)}
            for r in rows]


def utilisation(month: str, *, now: dt.datetime) -> list[tuple[dt.datetime, float | None]]:
    """(day, rented ÷ (ready + rented)) at the start of every day of `month` up to now (None: no server yet)."""
    start, end = month_window(month)
    points = []
    day = start
    with connection.cursor() as cursor:
        while day < min(end, now):
            cursor.execute(_STATES_AT, [day])
            counts: dict[str, int] = defaultdict(int, {state: count for state, count in cursor.fetchall()})
            rented = sum(counts[s] for s in RENTED)
            pool = rented + sum(counts[s] for s in READY)
            points.append((day, rented / pool if pool else None))
            day += dt.timedelta(days=1)
    return points


def spot_history(month: str) -> list[dict[str, Any]]:
    start, end = month_window(month)
    return [{"at": p.at, "metro": p.metro.code, "plan": p.plan.slug, "price": p.price}
            for p in SpotPrice.objects.filter(at__gte=start, at__lt=end).select_related("metro", "plan").order_by("at")[:2000]]


def utilisation_svg(points: list[tuple[dt.datetime, float | None]], *, width: int = 600, height: int = 160) -> str:
    """A line per day's utilisation (0–100 %), as inline SVG (numbers only: nothing to escape)."""
    known = [(index, value) for index, (_, value) in enumerate(points) if value is not None]
    step = width / max(1, len(points) - 1)
    line = " ".join(f"{index * step:.1f},{height - value * height:.1f}" for index, value in known)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" viewBox="0 -5 {width} {height + 20}">'
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="none" stroke="#ccc"/>'
            f'<polyline points="{line}" fill="none" stroke="#2a6" stroke-width="2"/>'
            f'<text x="2" y="{height + 14}" font-size="11">day 1</text><text x="{width - 40}" y="{height + 14}" font-size="11">day {len(points)}</text>'
            f'<text x="4" y="12" font-size="11">100 %</text></svg>')
