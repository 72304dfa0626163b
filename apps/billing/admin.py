"""Staff screens for billing: the price book (entries are added, never edited), issued invoices (read only)
and credits (added through credit_add)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.billing import services
from apps.billing.models import Credit, Invoice, InvoiceLine, Price


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ["kind", "plan", "metro", "amount", "valid_from", "created_at"]
    list_filter = ["kind", "metro"]
    fields = ["kind", "plan", "metro", "amount", "valid_from"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Price, form: Any, change: bool) -> None:
        saved = services.price_set(kind=obj.kind, amount=obj.amount, valid_from=obj.valid_from, plan=obj.plan, metro=obj.metro,
                                   actor=request.user)
        obj.pk = saved.pk


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ["item_type", "description", "location", "unit", "quantity", "unit_price", "amount", "start", "end"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "organization", "period_start", "amount", "credits_applied", "currency", "status", "issued_at"]
    list_filter = ["period_start", "status"]
    search_fields = ["number", "organization__name"]
    inlines = [InvoiceLineInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Credit)
class CreditAdmin(admin.ModelAdmin):
    list_display = ["organization", "amount", "reason", "corrects", "applied_on", "created_at"]
    fields = ["organization", "amount", "reason", "corrects"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Credit, form: Any, change: bool) -> None:
        saved = services.credit_add(organization=obj.organization, amount=obj.amount, reason=obj.reason, corrects=obj.corrects,
                                    actor=request.user)
        obj.pk = saved.pk
