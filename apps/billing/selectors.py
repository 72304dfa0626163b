"""Billing reads the faces share: usage of a project or a device over a window, the invoices an organization
may see, and the month's usage export (CSV / JSON lines) for a provider's own billing system."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import APIToken, Membership, Organization, Role
from apps.billing.models import Invoice
from apps.billing.rating import PriceBook, Usage, block_stretches, device_stretches, month_window, rate, reservation_usage
from apps.billing.services import currency

EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_FIELDS = ("organization_id", "project_id", "type", "service_id", "name", "plan", "metro", "facility", "start", "end",
                 "unit", "quantity", "unit_price", "total", "currency")
# Organization roles that see the organization's invoices.
BILLING_ROLES = (Role.OWNER, Role.ADMIN)


def month_to_date(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now


def project_usage(*, project_id: Any, window_start: dt.datetime, window_end: dt.datetime) -> list[Usage]:
    stretches = device_stretches(window_start=window_start, window_end=window_end, project_ids=[project_id])
    stretches += block_stretches(window_start=window_start, window_end=window_end, project_ids=[project_id])
    book = PriceBook()
    return (rate(stretches, window_start=window_start, window_end=window_end, book=book)
            + reservation_usage(window_start=window_start, window_end=window_end, book=book, project_ids=[project_id]))


def device_usage(*, device_id: Any, window_start: dt.datetime, window_end: dt.datetime) -> list[Usage]:
    stretches = device_stretches(window_start=window_start, window_end=window_end, device_ids=[device_id])
    return rate(stretches, window_start=window_start, window_end=window_end, book=PriceBook())


def billing_organizations(user: Any, token: APIToken | None = None) -> QuerySet[Organization]:
    """Organizations whose invoices `user` may read: owners and admins of the organization (not project
    members, and not through a token limited to one project)."""
    if user is None or not user.is_authenticated or (token is not None and token.project_id):
        return Organization.objects.none()
    member_of = Membership.objects.filter(user=user, organization__isnull=False, role__in=BILLING_ROLES).values("organization_id")
    return Organization.objects.filter(pk__in=member_of)


def visible_invoices(user: Any, token: APIToken | None = None) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization__in=billing_organizations(user, token))


def usage_rows(month: str, *, now: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every priced usage of `month` (all organizations), as flat rows; ValueError for a bad month."""
    start, end = month_window(month)
    now = now or timezone.now()
    stretches = device_stretches(window_start=start, window_end=end) + block_stretches(window_start=start, window_end=end)
    money = currency()
    book = PriceBook()
    usages = rate(stretches, window_start=start, window_end=min(end, now), book=book, now=now)
    usages += reservation_usage(window_start=start, window_end=min(end, now), book=book, now=now)
    for usage in usages:
        yield {"organization_id": str(usage.organization_id), "project_id": str(usage.project_id), "type": usage.kind,
               "service_id": usage.service_id, "name": usage.name, "plan": usage.plan, "metro": usage.metro, "facility": usage.facility,
               "start": usage.start.isoformat(), "end": usage.end.isoformat(), "unit": usage.unit, "quantity": str(usage.quantity),
               "unit_price": str(usage.unit_price), "total": str(usage.total), "currency": money}


def usage_export(*, month: str, format: str, now: dt.datetime | None = None) -> str:
    """The month's usage as CSV (with a header) or JSON lines; ValueError for a bad month or format."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format '{format}'; use one of: {', '.join(EXPORT_FORMATS)}.")
    rows = usage_rows(month, now=now)
    if format == "jsonl":
        return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
