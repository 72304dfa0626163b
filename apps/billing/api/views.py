"""The customer billing API (Equinix Metal v1): usages of a project or device, an organization's invoices,
one invoice; and the staff usage export. Every lookup starts from what the caller may see (else 404)."""
from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import StaffAPIPermission, request_token
from apps.accounts.selectors import visible_projects
from apps.billing import selectors
from apps.billing.api import serializers as s
from apps.installs.models import Device


class ProjectUsageView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        start, end = s.window_from_query(request.query_params, selectors.month_to_date())
        usages = selectors.project_usage(project_id=project.pk, window_start=start, window_end=end)
        return Response({"usages": [s.usage_out(u) for u in usages], "href": f"{s.BASE}/projects/{project.pk}/usages"})


class DeviceUsageView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        # Deleted devices included: their usage stays billable history.
        device = get_object_or_404(Device.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk")), pk=pk)
        start, end = s.window_from_query(request.query_params, selectors.month_to_date())
        usages = selectors.device_usage(device_id=device.pk, window_start=start, window_end=end)
        return Response({"usages": [s.device_usage_out(u) for u in usages], "href": f"{s.BASE}/devices/{device.pk}/usages"})


class OrganizationInvoiceListView(GenericAPIView):
    results_key = "invoices"

    def get(self, request: Request, pk: str) -> Response:
        org = get_object_or_404(selectors.billing_organizations(request.user, request_token(request)), pk=pk)
        invoices = org.invoices.prefetch_related("lines").order_by("-period_start")
        if request.query_params.get("status"):
            invoices = invoices.filter(status=request.query_params["status"])
        page = self.paginate_queryset(invoices)
        return self.get_paginated_response([s.invoice_out(invoice) for invoice in page])


class InvoiceDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        invoice = get_object_or_404(selectors.visible_invoices(request.user, request_token(request)).prefetch_related("lines"), pk=pk)
        return Response(s.invoice_out(invoice))


class IsBillingStaff(StaffAPIPermission):
    message = "The usage export is a staff API; it needs a staff account."

    def write_permission(self, request: Request, view: Any) -> str:
        return "billing.add_invoice"


class UsageExportView(GenericAPIView):
    """GET /api/billing/usage-export?month=2026-11&format=csv|jsonl — what `manage.py usage_export` writes."""

    permission_classes = [IsBillingStaff]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ?format= is this endpoint's own parameter (csv or jsonl), not DRF's renderer override.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request) -> HttpResponse:
        month = request.query_params.get("month", "")
        fmt = request.query_params.get("format", "csv")
        try:
            body = selectors.usage_export(month=month, format=fmt)
        except ValueError as exc:
            raise ValidationError({"format" if "format" in str(exc) else "month": str(exc)}) from None
        content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="usage-{month}.{fmt}"'
        return response
