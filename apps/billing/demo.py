"""Demo price book: every demo plan at its list price (in every metro) from the first of this month, public
IPv4 per address, IPv6 and private blocks free, a reserved-hardware month per plan."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.billing.models import Price, PriceKind
from apps.billing.services import price_set
from apps.hardware.models import Plan


def seed(*, out: Any, context: dict[str, Any]) -> str:
    now = timezone.now()
    since = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    added = 0
    wanted: list[tuple[str, Any, Decimal]] = [(PriceKind.PUBLIC_IPV4, None, Decimal("0.0050")), (PriceKind.PUBLIC_IPV6, None, Decimal("0")),
                                              (PriceKind.PRIVATE_IPV4, None, Decimal("0"))]
    for plan in Plan.objects.all():
        wanted.append((PriceKind.DEVICE, plan, plan.price_hourly))
        wanted.append((PriceKind.RESERVED_HARDWARE, plan, (plan.price_hourly * 730 * Decimal("0.7")).quantize(Decimal("0.01"))))
    for kind, plan, amount in wanted:
        if not Price.objects.filter(kind=kind, plan=plan, metro=None).exists():
            price_set(kind=kind, plan=plan, amount=amount, valid_from=since)
            added += 1
    return f"{added} prices"
