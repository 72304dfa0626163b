"""The customer Device API (Equinix Metal v1): list and order devices in a project or organization,
show, update, delete, actions, device IPs and SSH keys. Every lookup starts from the caller's
visible projects; anything else is 404."""
from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.serializers import SSHKeyOut
from apps.accounts.models import SSHKey
from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.facilities.models import Metro
from apps.hardware.models import Plan
from apps.installs import actions
from apps.installs.api import serializers as s
from apps.installs.api.serializers import os_repr
from apps.installs.custom_ipxe import custom_ipxe_operating_system
from apps.installs.models import CUSTOM_IPXE_SLUG, Device, OperatingSystem
from apps.installs.selectors import order_facility, visible_devices
from apps.installs.services import orders, spot
from apps.ipam.api.serializers import DeviceIPIn, customer_ip
from apps.ipam.api.views import device_ip_assign
from apps.ipam.selectors import blocks_visible_to
from project.public_ids import key_of


def _devices(request: Request) -> QuerySet[Device]:
    return visible_devices(request.user, request_token(request)).select_related("server__facility__metro", "metro", "facility__metro")


def _by_slug_or_id(queryset: QuerySet, kind: str, value: str) -> Any:
    """A catalog row by slug/code or by its public id; None when there is none. Slugs and codes are
    stored lower-case, so lower-casing the input is the case-insensitive match the real service does."""
    key = key_of(kind, value)
    field = "code" if kind == "metro" else "slug"
    return queryset.filter(Q(**{field: value.strip().lower()}) | (Q(pk=key) if key is not None else Q(pk__in=[]))).first()


def filter_devices(request: Request, devices: QuerySet[Device]) -> QuerySet[Device]:
    """The list filters the clients use: hostname, search, state, tag, facility, metro."""
    params = request.query_params
    if params.get("hostname"):
        devices = devices.filter(hostname=params["hostname"])
    if params.get("search"):
        term = params["search"]
        devices = devices.filter(Q(hostname__icontains=term) | Q(description__icontains=term) | Q(tags__contains=[term]))
    if params.get("state"):
        devices = devices.filter(state__in=params["state"].split(","))
    if params.get("tag"):
        devices = devices.filter(tags__contains=[params["tag"]])
    if params.get("facility"):
        code = params["facility"].lower()
        devices = devices.filter(Q(server__facility__code=code) | Q(server__isnull=True, facility__code=code))
    if params.get("metro"):
        code = params["metro"].lower()
        devices = devices.filter(Q(metro__code=code) | Q(facility__metro__code=code))
    return devices


class OperatingSystemListView(GenericAPIView):
    """Not paginated, like the real service."""

    def get(self, request: Request) -> Response:
        systems = OperatingSystem.objects.filter(provisionable=True).prefetch_related("plans").order_by("slug")
        return Response({"operating_systems": [os_repr(os_) for os_ in systems]})


class DeviceListMixin(GenericAPIView):
    results_key = "devices"

    def device_page(self, request: Request, devices: QuerySet[Device]) -> Response:
        # The catalog rows each device shows are read once per page (DevicePage), not joined into every row.
        page = self.paginate_queryset(filter_devices(request, devices).select_related(None).order_by("-created_at", "pk"))
        return self.get_paginated_response(s.DeviceOut(page, many=True, context={"page": s.DevicePage.load(page)}).data)


class ProjectDeviceListView(DeviceListMixin):
    def get(self, request: Request, project_pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=project_pk)
        # The project is visible (just checked): its devices need no second pass through the visibility rules.
        return self.device_page(request, Device.objects.filter(project=project).exclude(state="deleted"))

    def post(self, request: Request, project_pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=project_pk)
        require(request, project, WRITE)
        data = s.DeviceIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        plan = _by_slug_or_id(Plan.objects.all(), "plan", v["plan"]) if v.get("plan") else None
        os_ = _by_slug_or_id(OperatingSystem.objects.all(), "operating_system", v["operating_system"])
        if os_ is None and (v["operating_system"] == CUSTOM_IPXE_SLUG or v.get("ipxe_script_url")):
            os_ = custom_ipxe_operating_system()
        metro = _by_slug_or_id(Metro.objects.all(), "metro", v["metro"]) if v.get("metro") else None
        errors = {name: f"No {name.replace('_', ' ')} '{v[name]}'." for name, obj in
                  (("plan", plan), ("operating_system", os_), ("metro", metro)) if v.get(name) and obj is None}
        if errors:
            raise ValidationError(errors)
        facility = None
        if v.get("facility") and plan is not None:
            facility = order_facility(plan=plan, facility_codes=v["facility"], metro=metro)
            if facility is None:
                raise ValidationError({"facility": f"No facility {', '.join(v['facility'])} offers {plan.slug} right now."})
        slug = plan.slug if plan is not None else "device"
        hostname = v.get("hostname") or f"{slug.split('.')[0]}-{secrets.token_hex(3)}"
        order = {"project": project, "hostname": hostname, "plan": plan, "operating_system": os_, "facility": facility, "metro": metro,
                 "ssh_keys": v.get("ssh_keys") or [], "project_ssh_keys": v.get("project_ssh_keys"), "user_ssh_keys": v.get("user_ssh_keys"),
                 "no_ssh_keys": bool(v.get("no_ssh_keys")), "userdata": v.get("userdata") or "", "tags": v.get("tags") or [],
                 "description": v.get("description") or "", "public_ipv4_subnet_size": v.get("public_ipv4_subnet_size") or 31,
                 "locked": bool(v.get("locked")), "billing_cycle": v.get("billing_cycle") or "hourly",
                 "customdata": v.get("customdata") or {}, "ipxe_script_url": v.get("ipxe_script_url") or "",
                 "always_pxe": bool(v.get("always_pxe")), "actor": actor_of(request)}
        if v.get("spot_instance"):
            device = spot.spot_device_create(bid=v["spot_price_max"], **order)
        else:
            device = orders.device_create(hardware_reservation=v.get("hardware_reservation_id") or None, **order)
        return Response(s.DeviceOut(_devices(request).get(pk=device.pk)).data, status=status.HTTP_201_CREATED)


class OrganizationDeviceListView(DeviceListMixin):
    def get(self, request: Request, org_pk: str) -> Response:
        projects = visible_projects(request.user, request_token(request)).filter(organization_id=org_pk)
        if not projects.exists():
            get_object_or_404(projects, pk=None)  # an organization with nothing visible is a 404, like another tenant's
        return self.device_page(request, _devices(request).filter(project__in=projects.values("pk")))


class DeviceDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        # One narrow row; the catalog rows it shows are small primary-key reads (DevicePage) rather than nine joins.
        return Response(s.DeviceOut(get_object_or_404(_devices(request).select_related(None), pk=pk)).data)

    def put(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        require(request, device.project, WRITE)
        data = s.DeviceUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        orders.device_update(device=device, actor=actor_of(request), **data.validated_data)
        return Response(s.DeviceOut(_devices(request).get(pk=pk)).data)

    patch = put

    def delete(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        actions.perform("delete", device=device, actor=actor_of(request), user=request.user, token=request_token(request),
                        reason="deleted through the API")
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceActionView(GenericAPIView):
    """The actions of the registry (apps/installs/actions.py) that customers may run through the API."""

    def post(self, request: Request, pk: str) -> Response:
        device: Device = get_object_or_404(_devices(request), pk=pk)
        data = s.DeviceActionIn(data=request.data)
        data.is_valid(raise_exception=True)
        params = {name: value for name, value in data.validated_data.items() if name != "type" and value}
        if params.get("operating_system") == CUSTOM_IPXE_SLUG:
            custom_ipxe_operating_system()
        if params.get("operating_system"):
            os_ = _by_slug_or_id(OperatingSystem.objects.all(), "operating_system", params["operating_system"])
            params["operating_system"] = os_.slug if os_ is not None else params["operating_system"]
        name = data.validated_data["type"]
        actions.perform(name, device=device, actor=actor_of(request), user=request.user, token=request_token(request),
                        reason=f"{name} through the API", **params)
        return Response(status=status.HTTP_202_ACCEPTED)


class DeviceIPListView(GenericAPIView):
    """GET the device's addresses; POST {"address": "…"} assigns one from the project's reservations."""

    results_key = "ip_addresses"

    def get(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        page = s.DevicePage.load([device])
        return Response({"ip_addresses": [customer_ip(b) for b in page.addresses.get(device.pk, [])]})

    def post(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        require(request, device.project, WRITE)
        body = DeviceIPIn(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            block = device_ip_assign(request, project=device.project, device_id=device.pk, hostname=device.hostname,
                                     address=body.validated_data["address"])
        return Response(customer_ip(blocks_visible_to(request.user, request_token(request)).get(pk=block.pk)), status=status.HTTP_201_CREATED)


class DeviceSSHKeyListView(GenericAPIView):
    """The SSH keys written to the device, as key objects (those still stored)."""

    results_key = "ssh_keys"

    def get(self, request: Request, pk: str) -> Response:
        device = get_object_or_404(_devices(request), pk=pk)
        keys = SSHKey.objects.filter(Q(project=device.project) | Q(owner__isnull=False), key__in=list(device.ssh_keys))
        keys = keys.filter(Q(project=device.project) | Q(owner__memberships__project=device.project)
                           | Q(owner__memberships__organization_id=device.project.organization_id)).distinct()
        page = self.paginate_queryset(keys.order_by("created_at", "pk"))
        return self.get_paginated_response(SSHKeyOut(page, many=True).data)
