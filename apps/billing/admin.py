"""Staff screens for billing: the price book (entries are added, never edited), issued invoices (read only)
and credits (added through credit_add)."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.safestring import mark_safe

from apps.billing import reports, services
from apps.billing.models import Credit, Invoice, InvoiceLine, Price


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ["kind", "plan", "metro", "amount", "valid_from", "created_at"]
    list_filter = ["kind", "metro"]
    change_list_template = "admin/billing/price_change_list.html"
    fields = ["kind", "plan", "metro", "amount", "valid_from"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [path("report/", self.admin_site.admin_view(self.report_view), name="billing_report"), *super().get_urls()]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """Revenue per facility and plan, utilisation over the month, the spot price history (?month=YYYY-MM)."""
        now = timezone.now()
        month = request.GET.get("month") or f"{now:%Y-%m}"
        try:
            points = reports.utilisation(month, now=now)
        except ValueError as exc:
            month, points = f"{now:%Y-%m}", reports.utilisation(f"{now:%Y-%m}", now=now)
            self.message_user(request, str(exc), level="error")
        context = {**self.admin_site.each_context(request), "title": f"Billing report {month}", "month": month,
                   "revenue": reports.revenue(month), "spot": reports.spot_history(month),
                   "chart": mark_safe(reports.utilisation_svg(points)),  # noqa: S308 - built from numbers only
                   "utilisation": [(day, None if value is None else round(value * 100, 1)) for day, value in points]}
        return TemplateResponse(request, "admin/billing/report.html", context)

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
