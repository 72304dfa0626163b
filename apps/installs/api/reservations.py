"""The customer hardware reservation API (Equinix Metal v1): a project's reservations, one reservation, and
moving one to another project of the same organization. Lookups start from the caller's visible projects."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.installs.models import DeviceState, HardwareReservation
from apps.installs.services import reservations
from project.timestamps import metal_time

BASE = "/metal/v1"


def visible_reservations(request: Request) -> QuerySet[HardwareReservation]:
    return (HardwareReservation.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk"))
            .select_related("project", "server__plan", "server__facility__metro"))


def reservation_out(reservation: HardwareReservation) -> dict[str, Any]:
    now = timezone.now()
    live = [d for d in reservation.devices.all() if d.state != DeviceState.DELETED]
    server = reservation.server
    in_force = reservation.starts_at <= now < reservation.ends_at
    return {
        "id": str(reservation.pk), "short_id": str(reservation.pk)[:8], "created_at": metal_time(reservation.created_at),
        "termination_time": metal_time(reservation.ends_at), "custom_rate": float(reservation.custom_rate) if reservation.custom_rate is not None else None,
        "provisionable": in_force and not live and server.state == "ready", "spare": False, "need_of_service": False, "switch_uuid": "",
        "plan": {"slug": server.plan.slug, "name": server.plan.name},
        "facility": {"code": server.facility.code, "name": server.facility.name, "metro": {"code": server.facility.metro.code}},
        "project": {"id": str(reservation.project_id), "href": f"{BASE}/projects/{reservation.project_id}"},
        "device": {"id": str(live[0].pk), "href": f"{BASE}/devices/{live[0].pk}"} if live else None,
        "href": f"{BASE}/hardware-reservations/{reservation.pk}",
    }


class ProjectHardwareReservationListView(GenericAPIView):
    results_key = "hardware_reservations"

    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        qs = visible_reservations(request).filter(project=project).prefetch_related("devices").order_by("-created_at")
        page = [reservation_out(r) for r in self.paginate_queryset(qs)]
        if request.query_params.get("provisionable") == "only":
            page = [r for r in page if r["provisionable"]]
        return self.get_paginated_response(page)


class HardwareReservationDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(reservation_out(get_object_or_404(visible_reservations(request).prefetch_related("devices"), pk=pk)))


class MoveIn(serializers.Serializer):
    project_id = serializers.UUIDField()


class HardwareReservationMoveView(GenericAPIView):
    def post(self, request: Request, pk: str) -> Response:
        reservation = get_object_or_404(visible_reservations(request), pk=pk)
        require(request, reservation.project, WRITE)
        body = MoveIn(data=request.data)
        body.is_valid(raise_exception=True)
        projects = visible_projects(request.user, request_token(request))
        target = projects.filter(pk=body.validated_data["project_id"]).first()
        if target is None:
            raise serializers.ValidationError({"project_id": "No such project among yours."})
        require(request, target, WRITE)
        moved = reservations.hardware_reservation_move(reservation=reservation, project=target, actor=actor_of(request))
        return Response(reservation_out(HardwareReservation.objects.prefetch_related("devices").get(pk=moved.pk)), status=status.HTTP_201_CREATED)
