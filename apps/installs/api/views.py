"""The customer Device API (Equinix Metal v1): list and order devices in a project, show, delete,
and reinstall. Every lookup starts from the caller's visible projects; anything else is 404."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.installs import actions
from apps.installs.api import serializers as s
from apps.installs.models import Device, OperatingSystem
from apps.installs.selectors import visible_devices
from apps.installs.services import orders, spot


def _devices(request: Request):
    return visible_devices(request.user, request_token(request))


class OperatingSystemListView(GenericAPIView):
    def get(self, request: Request) -> Response:
        systems = OperatingSystem.objects.filter(provisionable=True).prefetch_related("plans")
        return Response({"operating_systems": s.OperatingSystemOut(systems, many=True).data})


class ProjectDeviceListView(GenericAPIView):
    results_key = "devices"

    def get(self, request: Request, project_pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=project_pk)
        page = self.paginate_queryset(_devices(request).filter(project=project).order_by("-created_at"))
        return self.get_paginated_response(s.DeviceOut(page, many=True).data)

    def post(self, request: Request, project_pk: str) -> Response:
        from apps.facilities.models import Facility, Metro
        from apps.hardware.models import Plan

        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=project_pk)
        require(request, project, WRITE)
        data = s.DeviceIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        plan = Plan.objects.filter(slug=v["plan"]).first() if v.get("plan") else None
        os_ = OperatingSystem.objects.filter(slug=v["operating_system"]).first()
        facility = Facility.objects.select_related("metro").filter(code=v["facility"]).first() if v.get("facility") else None
        metro = Metro.objects.filter(code=v["metro"]).first() if v.get("metro") else None
        missing = {name: f"No {name.replace('_', ' ')} '{v[name]}'." for name, obj in
                   (("plan", plan), ("operating_system", os_), ("facility", facility), ("metro", metro)) if v.get(name) and obj is None}
        if missing:
            raise ValidationError(missing)
        keys = [key.key for key in project.ssh_keys.all()] + list(v["ssh_keys"])
        order = {"project": project, "hostname": v["hostname"], "plan": plan, "operating_system": os_, "facility": facility, "metro": metro,
                 "ssh_keys": keys, "userdata": v["userdata"], "tags": v["tags"], "description": v["description"],
                 "public_ipv4_subnet_size": v["public_ipv4_subnet_size"], "actor": actor_of(request)}
        if v["spot_instance"]:
            device = spot.spot_device_create(bid=v["spot_price_max"], **order)
        else:
            device = orders.device_create(hardware_reservation=v["hardware_reservation_id"] or None, **order)
        return Response(s.DeviceOut(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(s.DeviceOut(get_object_or_404(_devices(request), pk=pk)).data)

    def delete(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        actions.perform("delete", device=device, actor=actor_of(request), user=request.user, token=request_token(request),
                        reason="deleted through the API")
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceActionView(GenericAPIView):
    def post(self, request: Request, pk: str) -> Response:
        device: Device = get_object_or_404(_devices(request), pk=pk)
        data = s.DeviceActionIn(data=request.data)
        data.is_valid(raise_exception=True)
        params = {name: value for name, value in data.validated_data.items() if name != "type" and value}
        name = data.validated_data["type"]
        actions.perform(name, device=device, actor=actor_of(request), user=request.user, token=request_token(request),
                        reason=f"{name} through the API", **params)
        return Response(status=status.HTTP_202_ACCEPTED)
