"""Usages and invoices in the Equinix Metal v1 shapes (ProjectUsage, DeviceUsage, Invoice, LineItem)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError

from apps.billing.models import Invoice
from apps.billing.rating import Usage
from project.timestamps import metal_time

BASE = "/metal/v1"
USAGE_TYPES = {"device": "device", "public_ipv4": "ip_address", "public_ipv6": "ip_address", "private_ipv4": "ip_address",
               "reserved_hardware": "hardware_reservation", "spot": "device"}
HREFS = {"device": "devices", "spot": "devices", "reserved_hardware": "hardware-reservations"}


def window_from_query(params: Any, default: tuple[dt.datetime, dt.datetime]) -> tuple[dt.datetime, dt.datetime]:
    """created[after] / created[before] (a date or a date-time, UTC when no offset is given) or the default window."""
    window = list(default)
    errors = {}
    for index, name in enumerate(("created[after]", "created[before]")):
        raw = params.get(name)
        if not raw:
            continue
        try:
            value = parse_datetime(raw) or (dt.datetime.combine(parse_date(raw), dt.time(), tzinfo=dt.UTC) if parse_date(raw) else None)
        except ValueError:
            value = None
        if value is None:
            errors[name] = f"'{raw}' is not a date or date-time (e.g. 2026-11-01 or 2026-11-01T00:00:00Z)."
            continue
        window[index] = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not errors and window[1] <= window[0]:
        errors["created[before]"] = "created[before] must be later than created[after]."
    if errors:
        raise ValidationError(errors)
    return window[0], window[1]


def usage_out(usage: Usage) -> dict[str, Any]:
    return {"type": USAGE_TYPES.get(usage.kind, usage.kind), "name": usage.name, "plan": usage.plan, "plan_version": usage.plan,
            "facility": usage.facility, "metro": usage.metro, "unit": usage.unit, "quantity": str(usage.quantity),
            "price": str(usage.unit_price), "total": str(usage.total), "start": metal_time(usage.start), "end": metal_time(usage.end),
            "href": f"{BASE}/{HREFS.get(usage.kind, 'ips')}/{usage.service_id}"}


def device_usage_out(usage: Usage) -> dict[str, Any]:
    return {"unit": usage.unit, "quantity": str(usage.quantity), "price": str(usage.unit_price), "total": str(usage.total),
            "start": metal_time(usage.start), "end": metal_time(usage.end), "href": f"{BASE}/devices/{usage.service_id}"}


def invoice_out(invoice: Invoice) -> dict[str, Any]:
    items = []
    for line in invoice.lines.all():
        items.append({
            "item_type": line.item_type, "description": line.description, "details": line.unit,
            "hostname": line.description.split(" ", 1)[-1] if line.item_type == "device" else "",
            "plan": {"name": line.plan} if line.plan else None, "location": line.location,
            "project": {"id": str(line.project_id), "href": f"{BASE}/projects/{line.project_id}"} if line.project_id else None,
            "project_id": str(line.project_id) if line.project_id else None, "service_id": line.service_id or None,
            "unit": line.unit, "quantity": float(line.quantity), "unit_price": float(line.unit_price), "amount": float(line.amount),
            "currency": invoice.currency, "start_date": line.start.date().isoformat() if line.start else None,
            "end_date": line.end.date().isoformat() if line.end else None, "adjustments": [],
        })
    return {
        "id": str(invoice.pk), "number": invoice.number, "reference_number": invoice.number, "status": invoice.status,
        "currency": invoice.currency, "amount": float(invoice.amount), "credits_applied": float(invoice.credits_applied),
        "credit_amount": float(invoice.credits_applied), "balance": float(invoice.balance),
        "created_on": invoice.issued_at.date().isoformat(), "due_on": invoice.due_on.isoformat(),
        "target_date": invoice.period_start.isoformat(), "period_end": invoice.period_end.isoformat(),
        "items": items, "href": f"{BASE}/invoices/{invoice.pk}",
    }
