"""The staff installs and power API (/api/…): install runs with their timelines, and the registry's actions on a
server (power, next boot from the network, maintenance, commissioning; on the live device it holds, the same
action the customer would run, with a record on the device). Staff only; an action needs a read-write token and
the action's own Django permission (`staff_permission` in apps/installs/actions.py)."""
from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import StaffAPIPermission, actor_of
from apps.hardware.api.serializers import server_out
from apps.hardware.models import Server
from apps.installs import actions
from apps.installs.models import Install, InstallKind, InstallState
from apps.installs.selectors import install_percentage, install_timeline
from apps.installs.services import coupling
from project.timestamps import metal_time

STAFF = "/api"


class IsInstallsStaff(StaffAPIPermission):
    message = "This is the staff installs API; it needs a staff account (and, to run an action, that action's permission)."

    def write_permission(self, request: Request, view: Any) -> str:
        name = request.data.get("type") if isinstance(request.data, dict) else None
        action = actions.ACTIONS.get(name) if isinstance(name, str) else None
        # An unknown type is the serializer's 422; asking for the least permission lets the request reach it.
        return action.staff_permission if action is not None else "installs.view_install"


class StaffView(GenericAPIView):
    permission_classes = [IsInstallsStaff]


def install_out(install: Install, *, detail: bool = False) -> dict[str, Any]:
    server, device = install.server, install.device
    data: dict[str, Any] = {
        "id": str(install.pk), "kind": install.kind, "state": install.state, "step": install.step,
        "failure_reason": install.failure_reason,
        "server": {"id": str(server.pk), "serial": server.serial, "facility": server.facility.code,
                   "href": f"{STAFF}/hardware/servers/{server.pk}"} if server is not None else None,
        "device": {"id": str(device.pk), "hostname": device.hostname, "project_id": str(device.project_id),
                   "href": f"/metal/v1/devices/{device.pk}"} if device is not None else None,
        "operating_system": install.operating_system.slug if install.operating_system_id else None,
        "created_at": metal_time(install.created_at),
        "started_at": metal_time(install.started_at),
        "finished_at": metal_time(install.finished_at),
        "href": f"{STAFF}/installs/{install.pk}",
    }
    if detail:
        events = list(install.events.order_by("created_at", "id"))
        data["percentage"] = install_percentage(install, events)
        data["timeline"] = [{"type": e.type, "body": e.body, "source": e.source, "at": metal_time(e.at),
                             "seconds_since_start": round(e.seconds_since_start, 3), "took_seconds": round(e.took, 3)}
                            for e in install_timeline(install, events)]
    return data


def _installs() -> QuerySet[Install]:
    return Install.objects.select_related("server__facility", "device", "operating_system").defer("device__ssh_keys", "device__userdata")


class InstallListView(StaffView):
    """Install runs, newest first; filters: state, kind, open (true: queued or running), server (serial or id),
    device (id), facility (code)."""

    results_key = "installs"

    def get(self, request: Request) -> Response:
        params = request.query_params
        runs = _installs()
        if params.get("state"):
            runs = runs.filter(state__in=[s for s in params["state"].split(",") if s in InstallState.values])
        if params.get("kind"):
            runs = runs.filter(kind__in=[k for k in params["kind"].split(",") if k in InstallKind.values])
        if params.get("open") in ("1", "true"):
            runs = runs.filter(state__in=Install.OPEN)
        if params.get("server"):
            key = params["server"]
            runs = runs.filter(server__serial=key) if not _is_uuid(key) else runs.filter(server_id=key)
        if params.get("device"):
            runs = runs.filter(device_id=params["device"]) if _is_uuid(params["device"]) else runs.none()
        if params.get("facility"):
            runs = runs.filter(server__facility__code=params["facility"].lower())
        page = self.paginate_queryset(runs.order_by("-created_at", "pk"))
        return self.get_paginated_response([install_out(run) for run in page])


class InstallDetailView(StaffView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(install_out(get_object_or_404(_installs(), pk=pk), detail=True))


class ServerActionIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(actions.ACTIONS))
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    operating_system = serializers.CharField(required=False, allow_blank=True, default="", help_text="reinstall: another OS slug")


class ServerActionView(StaffView):
    """POST {"type": …, "reason": …}: run a registry action on the server (and so on the live device it holds).
    202: asked; the BMC call or the run goes on in the background, as from the admin."""

    def get(self, request: Request, pk: Any) -> Response:
        """The actions possible now: on the live device the server holds (by the device's state), else on the server."""
        server = get_object_or_404(Server, pk=pk)
        device = coupling.server_live_device(server)
        possible = [a for a in actions.ACTIONS.values()
                    if (device.state in a.device_states if device is not None else server.state in a.server_states)]
        return Response({"actions": [{"type": a.name, "label": a.label, "staff_permission": a.staff_permission,
                                      "confirm": a.confirm.format(name=device.hostname if device else server.serial)} for a in possible]})

    def post(self, request: Request, pk: Any) -> Response:
        server = get_object_or_404(Server, pk=pk)
        body = ServerActionIn(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["type"]
        params = {"operating_system": body.validated_data["operating_system"]} if body.validated_data["operating_system"] else {}
        actions.perform(name, server=server, actor=actor_of(request), user=request.user, staff=True,
                        reason=body.validated_data["reason"], **params)
        fresh = Server.objects.select_related("plan", "facility", "rack").get(pk=server.pk)
        return Response({"type": name, "server": server_out(fresh)}, status=status.HTTP_202_ACCEPTED)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
