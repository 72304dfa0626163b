"""The staff hardware API (/api/hardware/…): servers with filters, state transitions, commissioning
reports, rack CSV import and rack elevations. Staff only; writes need the Django permission and a
read-write token. Every write goes through apps.hardware services."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import StaffAPIPermission, actor_of
from apps.api.exceptions import Conflict
from apps.facilities.models import Rack
from apps.hardware import services
from apps.hardware.api import serializers as s
from apps.hardware.commissioning import InvalidReport
from apps.hardware.elevation import rack_elevation_svg
from apps.hardware.fields import normalize_mac
from apps.hardware.models import NetworkInterface, Server
from apps.hardware.onboarding import ImportRejected, rack_import


class IsHardwareStaff(StaffAPIPermission):
    message = "This is the staff hardware API; it needs a staff account (and the hardware permission to change anything)."

    def write_permission(self, request: Request, view: Any) -> str:
        return getattr(view, "write_permission", "hardware.change_server")


class StaffView(GenericAPIView):
    permission_classes = [IsHardwareStaff]


def _servers() -> QuerySet[Server]:
    return Server.objects.select_related("plan", "facility", "rack").order_by("facility__code", "serial")


def _server_detail(pk: Any) -> Server:
    return get_object_or_404(_servers().select_related("bmc").prefetch_related(
        Prefetch("interfaces", NetworkInterface.objects.select_related("cable__port__switch").order_by("name")), "findings"), pk=pk)


class ServerListView(StaffView):
    results_key = "servers"

    def get(self, request: Request) -> Response:
        params = request.query_params
        qs = _servers()
        for param, lookup in (("state", "state"), ("facility", "facility__code"), ("plan", "plan__slug"), ("serial", "serial"),
                              ("rack", "rack__name")):
            if params.get(param):
                qs = qs.filter(**{lookup: params[param]})
        if params.get("mac"):
            try:
                qs = qs.filter(interfaces__mac=normalize_mac(params["mac"]))
            except DjangoValidationError as exc:
                raise ValidationError({"mac": f"'{params['mac']}' is not a MAC address."}) from exc
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([s.server_out(server) for server in page])


class ServerDetailView(StaffView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(s.server_out(_server_detail(pk), detail=True))


class ServerTransitionView(StaffView):
    def post(self, request: Request, pk: Any) -> Response:
        server = get_object_or_404(Server, pk=pk)
        data = s.TransitionIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.server_transition(server=server, to=data.validated_data["to"], reason=data.validated_data["reason"],
                                       actor=actor_of(request))
        except services.OpenFindings as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.server_out(_server_detail(pk), detail=True))


class ServerCommissioningView(StaffView):
    """Post a discovery report by hand (the netboot posts it through the installs endpoints)."""

    def post(self, request: Request, pk: Any) -> Response:
        server = get_object_or_404(Server, pk=pk)
        try:
            findings = services.server_commissioning_check(server=server, report=request.data, actor=actor_of(request))
        except InvalidReport as exc:
            raise ValidationError({"report": str(exc)}) from exc
        server.refresh_from_db()
        return Response({"state": server.state, "findings": [s.finding_out(f) for f in findings]})


class RackImportView(StaffView):
    write_permission = "hardware.add_server"

    def post(self, request: Request) -> Response:
        if request.content_type.startswith("text/csv"):
            text, dry_run = request.body.decode("utf-8-sig"), request.query_params.get("dry_run") in ("1", "true")
        else:
            data = s.ImportIn(data=request.data)
            data.is_valid(raise_exception=True)
            text, dry_run = data.validated_data["csv"], data.validated_data["dry_run"]
        try:
            result = rack_import(text=text, actor=actor_of(request), dry_run=dry_run)
        except ImportRejected as exc:
            return Response({"errors": [str(e) for e in exc.errors],
                             "lines": [{"line": e.line, "column": e.column, "message": e.message} for e in exc.errors]}, status=422)
        return Response({"created": result.created, "updated": result.updated, "unchanged": result.unchanged, "dry_run": result.dry_run})


class RackElevationView(StaffView):
    def get(self, request: Request, pk: int) -> HttpResponse:
        rack = get_object_or_404(Rack.objects.select_related("facility"), pk=pk)
        return HttpResponse(rack_elevation_svg(rack), content_type="image/svg+xml")
