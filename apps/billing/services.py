"""Billing writes: price book entries, issuing an organization's invoice for a month (the meter), credits.

The meter (`invoices_issue`) rates each organization's month from history and writes its invoice with all
its lines in one transaction, under the organization's row lock, at most once per month (a database
constraint backs it). A meter that dies mid-run leaves whole invoices or none for each organization, and
running it again issues only what is missing: totals never depend on how often or when it ran.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization, Project
from apps.audit.services import audit_record, snapshot
from apps.billing.models import PLAN_KINDS, Credit, Invoice, InvoiceLine, LineType, Price, PriceKind
from apps.billing.rating import SPOT, MissingPrice, PriceBook, Usage, block_stretches, device_stretches, money, month_window, rate, reservation_usage
from apps.installs.models import HardwareReservation


def currency() -> str:
    return settings.BILLING_CURRENCY


def price_set(*, kind: str, amount: Decimal, valid_from: dt.datetime, plan: Any = None, metro: Any = None, actor: Any = None) -> Price:
    """Add a price to the book, in force from `valid_from` until the next entry of the same key. A date
    inside a month already invoiced is refused: an issued invoice must stay what the book then said."""
    if kind not in PriceKind.values:
        raise ValidationError({"kind": f"Unknown price kind '{kind}' (known: {', '.join(PriceKind.values)})."})
    if (kind in PLAN_KINDS) != (plan is not None):
        raise ValidationError({"plan": f"A {kind} price {'needs' if kind in PLAN_KINDS else 'takes no'} plan."})
    amount = Decimal(amount)
    if amount < 0:
        raise ValidationError({"amount": "A price cannot be negative."})
    last_invoiced = Invoice.objects.order_by("-period_end").values_list("period_end", flat=True).first()
    if last_invoiced is not None and valid_from.date() <= last_invoiced:
        earliest = last_invoiced + dt.timedelta(days=1)
        raise ValidationError({"valid_from": f"Invoices up to {last_invoiced} are issued; a price can start on {earliest} at the earliest."})
    with transaction.atomic():
        if Price.objects.filter(kind=kind, plan=plan, metro=metro, valid_from=valid_from).exists():
            raise ValidationError({"valid_from": "This price already has an entry from that moment; give the new one its own date."})
        price = Price.objects.create(kind=kind, plan=plan, metro=metro, amount=amount, valid_from=valid_from,
                                     created_by=actor if getattr(actor, "is_authenticated", False) else None)
        audit_record(action="billing.price.create", target=price, changes={k: [None, v] for k, v in snapshot(price).items()}, actor=actor)
    return price


def organization_usage(*, organization_id: Any, window_start: dt.datetime, window_end: dt.datetime, book: PriceBook | None = None,
                       strict: bool = False, now: dt.datetime | None = None) -> list[Usage]:
    project_ids = list(Project.objects.filter(organization_id=organization_id).values_list("pk", flat=True))
    book = book or PriceBook()
    stretches = device_stretches(window_start=window_start, window_end=window_end, project_ids=project_ids)
    stretches += block_stretches(window_start=window_start, window_end=window_end, project_ids=project_ids)
    usages = rate(stretches, window_start=window_start, window_end=window_end, book=book, strict=strict, now=now)
    return usages + reservation_usage(window_start=window_start, window_end=window_end, book=book, project_ids=project_ids, now=now,
                                      strict=strict)


def _line(invoice: Invoice, usage: Usage) -> InvoiceLine:
    item_type = {PriceKind.DEVICE: LineType.DEVICE, SPOT: LineType.DEVICE,
                 PriceKind.RESERVED_HARDWARE: LineType.HARDWARE_RESERVATION}.get(usage.kind, LineType.IP_BLOCK)
    label = f"{usage.plan} {usage.name}" if usage.plan else f"{usage.kind} {usage.name}"
    return InvoiceLine(invoice=invoice, item_type=item_type, project_id=usage.project_id, service_id=usage.service_id,
                       description=label[:300], plan=usage.plan, location=usage.facility or usage.metro, unit=usage.unit,
                       quantity=usage.quantity, unit_price=usage.unit_price, amount=usage.total, start=usage.start, end=usage.end)


def invoice_issue(*, organization: Organization, month: str, now: dt.datetime | None = None, book: PriceBook | None = None,
                  usages: list[Usage] | None = None) -> Invoice | None:
    """Issue `organization`'s invoice for `month` (YYYY-MM), or return the one already issued. None when there
    is nothing to bill. Raises MissingPrice when something used has no price in force."""
    now = now or timezone.now()
    start, end = month_window(month)
    if end > now:
        raise ValidationError({"month": f"{month} is not over yet; its invoice can be issued from {end.isoformat()}."})
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        existing = Invoice.objects.filter(organization=organization, period_start=start.date()).first()
        if existing is not None:
            return existing
        if usages is None:
            usages = organization_usage(organization_id=organization.pk, window_start=start, window_end=end, book=book, strict=True, now=now)
        credits = list(Credit.objects.select_for_update().filter(organization=organization, applied_on__isnull=True).order_by("created_at"))
        if not usages and not credits:
            return None
        amount = sum((usage.total for usage in usages), Decimal(0))
        credited = sum((credit.amount for credit in credits), Decimal(0))
        invoice = Invoice(organization=organization, number=f"{start:%Y%m}-{organization.pk.hex[:12]}", period_start=start.date(),
                          period_end=(end - dt.timedelta(days=1)).date(), currency=currency(), amount=money(amount),
                          credits_applied=money(credited), issued_at=now,
                          due_on=now.date() + dt.timedelta(days=settings.BILLING_DUE_DAYS))
        invoice.save()
        lines = [_line(invoice, usage) for usage in usages]
        lines += [InvoiceLine(invoice=invoice, item_type=LineType.CREDIT, description=f"Credit: {credit.reason}"[:300], unit="credit",
                              quantity=Decimal(1), unit_price=-credit.amount, amount=-credit.amount) for credit in credits]
        InvoiceLine.objects.bulk_create(lines, batch_size=2000)
        if credits:
            Credit.objects.filter(pk__in=[credit.pk for credit in credits]).update(applied_on=invoice)
        audit_record(action="billing.invoice.issue", target=invoice, actor=None,
                     changes={"number": [None, invoice.number], "amount": [None, invoice.amount], "lines": [None, len(lines)]})
    return invoice


def invoices_issue(*, month: str, now: dt.datetime | None = None, on_issued: Any = None) -> dict[str, int]:
    """The meter: issue every organization's invoice for `month` that is not issued yet, one transaction per
    organization. Safe to run again at any time, also after a run that died."""
    now = now or timezone.now()
    start, end = month_window(month)
    if end > now:
        raise ValidationError({"month": f"{month} is not over yet; its invoices can be issued from {end.isoformat()}."})
    book = PriceBook()
    counts = {"issued": 0, "already": 0, "nothing": 0, "missing_price": 0}
    done = set(Invoice.objects.filter(period_start=start.date()).values_list("organization_id", flat=True))
    todo = list(Organization.objects.exclude(pk__in=done).order_by("pk"))
    counts["already"] = len(done)
    # One pass over the month's history for every organization, then one short transaction each.
    stretches = device_stretches(window_start=start, window_end=end) + block_stretches(window_start=start, window_end=end)
    wanted = {org.pk for org in todo}
    by_org: dict[Any, list[Usage]] = {pk: [] for pk in wanted}
    errors: dict[Any, MissingPrice] = {}
    for stretch in stretches:
        if stretch.organization_id not in wanted or stretch.organization_id in errors:
            continue
        try:
            by_org[stretch.organization_id] += rate([stretch], window_start=start, window_end=end, book=book, strict=True, now=now)
        except MissingPrice as exc:
            errors[stretch.organization_id] = exc
    reserving = set(HardwareReservation.objects.filter(starts_at__lt=end, ends_at__gt=start).values_list("project__organization_id", flat=True))
    for org_id in wanted & reserving:
        try:
            by_org[org_id] += reservation_usage(window_start=start, window_end=end, book=book, now=now, strict=True,
                                                project_ids=list(Project.objects.filter(organization_id=org_id).values_list("pk", flat=True)))
        except MissingPrice as exc:
            errors[org_id] = exc
    for org in todo:
        if org.pk in errors:
            counts["missing_price"] += 1
            if on_issued:
                on_issued(org, None, errors[org.pk])
            continue
        invoice = invoice_issue(organization=org, month=month, now=now, book=book, usages=by_org[org.pk])
        counts["issued" if invoice is not None else "nothing"] += 1
        if on_issued:
            on_issued(org, invoice, None)
    return counts


def credit_add(*, organization: Organization, amount: Decimal, reason: str, corrects: Invoice | None = None, actor: Any = None) -> Credit:
    """Owe `organization` `amount`: a negative line on its next invoice (the corrected invoice stays as issued)."""
    amount = Decimal(amount)
    if amount <= 0:
        raise ValidationError({"amount": "A credit is a positive amount."})
    if not reason.strip():
        raise ValidationError({"reason": "Say why the credit is given."})
    if corrects is not None and corrects.organization_id != organization.pk:
        raise ValidationError({"corrects": "That invoice belongs to another organization."})
    with transaction.atomic():
        credit = Credit.objects.create(organization=organization, amount=money(amount), reason=reason.strip(), corrects=corrects,
                                       created_by=actor if getattr(actor, "is_authenticated", False) else None)
        audit_record(action="billing.credit.create", target=credit, changes={k: [None, v] for k, v in snapshot(credit).items()}, actor=actor)
    return credit
