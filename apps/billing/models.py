"""Billing: the dated price book, monthly invoices (closed once issued) and the credits that correct them.

Usage itself is not stored: it is rated on demand from recorded history (apps.audit StateChange rows for
devices, IP blocks' assigned_at/released_at), so nothing can drift from what happened. See docs/billing.md.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce


class PriceKind(models.TextChoices):
    DEVICE = "device", "Device (plan per hour)"
    PUBLIC_IPV4 = "public_ipv4", "Public IPv4 (per address per hour)"
    PUBLIC_IPV6 = "public_ipv6", "Public IPv6 block (per block per hour)"
    PRIVATE_IPV4 = "private_ipv4", "Private IPv4 block (per block per hour)"
    RESERVED_HARDWARE = "reserved_hardware", "Reserved hardware (plan per month of term)"


# The unit each kind of price is quoted in, as the usage API shows it.
PRICE_UNITS: dict[str, str] = {
    PriceKind.DEVICE: "hour",
    PriceKind.PUBLIC_IPV4: "address-hour",
    PriceKind.PUBLIC_IPV6: "block-hour",
    PriceKind.PRIVATE_IPV4: "block-hour",
    PriceKind.RESERVED_HARDWARE: "month",
    "spot": "hour",  # spot devices, at the market's price (apps.billing.rating.SPOT)
}
PLAN_KINDS = frozenset({PriceKind.DEVICE, PriceKind.RESERVED_HARDWARE})


class Price(models.Model):
    """One entry of the price book: what `kind` (for `plan`, in `metro`, or in every metro when empty)
    costs from `valid_from` on, until the next entry of the same key. Entries are never edited: a new
    price is a new entry with a later date."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=PriceKind.choices)
    plan = models.ForeignKey("hardware.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="prices")
    metro = models.ForeignKey("facilities.Metro", null=True, blank=True, on_delete=models.PROTECT, related_name="prices",
                              help_text="Empty: every metro without a price of its own.")
    amount = models.DecimalField(max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])
    valid_from = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["kind", "plan", "metro", "valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="billing_price_not_negative"),
            models.CheckConstraint(condition=Q(kind__in=sorted(PLAN_KINDS), plan__isnull=False) | (~Q(kind__in=sorted(PLAN_KINDS)) & Q(plan__isnull=True)),
                                   name="billing_price_plan_iff_plan_kind"),
            # One entry per key and date; "every metro" (NULL) counts as a key of its own on every database.
            models.UniqueConstraint("kind", Coalesce("plan", Value(0)), Coalesce("metro", Value(0)), "valid_from", name="billing_price_one_per_date"),
        ]

    def __str__(self) -> str:
        what = self.plan.slug if self.plan_id else self.get_kind_display()
        return f"{what} in {self.metro.code if self.metro_id else 'every metro'}: {self.amount} from {self.valid_from:%Y-%m-%d %H:%M}"


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", "Issued"


class Invoice(models.Model):
    """One organization's bill for one calendar month (UTC). Written once, with all its lines, in one
    transaction; never changed afterwards (a later correction is a Credit, applied on a later invoice)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=30, unique=True)
    period_start = models.DateField()
    period_end = models.DateField(help_text="The last day of the period.")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=14, decimal_places=2, help_text="Usage charges (before credits).")
    credits_applied = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.ISSUED)
    issued_at = models.DateTimeField()
    due_on = models.DateField()

    class Meta:
        ordering = ["-period_start", "organization"]
        constraints = [models.UniqueConstraint(fields=["organization", "period_start"], name="billing_invoice_one_per_month")]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("an issued invoice is never changed; add a credit instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("an issued invoice is never deleted; add a credit instead")

    @property
    def balance(self) -> Decimal:
        return self.amount - self.credits_applied


class LineType(models.TextChoices):
    DEVICE = "device", "Device"
    IP_BLOCK = "ip_block", "IP block"
    HARDWARE_RESERVATION = "hardware_reservation", "Hardware reservation"
    CREDIT = "credit", "Credit"


class InvoiceLine(models.Model):
    """One line of an invoice: a device or an IP block for a stretch at one unit price, or a credit."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    item_type = models.CharField(max_length=25, choices=LineType.choices)
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    service_id = models.CharField(max_length=64, blank=True, help_text="The device (UUID), IP block (id) or reservation billed.")
    description = models.CharField(max_length=300)
    plan = models.CharField(max_length=50, blank=True)
    location = models.CharField(max_length=20, blank=True)
    unit = models.CharField(max_length=20)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit_price = models.DecimalField(max_digits=12, decimal_places=4)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("invoice lines are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("invoice lines are never deleted")


class Credit(models.Model):
    """A correction owed to an organization (an overcharge, a goodwill gesture). It appears as a negative
    line on the organization's next invoice; the invoice it corrects stays as it was issued."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="credits")
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    reason = models.CharField(max_length=300)
    corrects = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="corrections")
    applied_on = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="credits")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="billing_credit_positive")]

    def __str__(self) -> str:
        return f"credit {self.amount} to {self.organization}"
