"""The customer API of customer networking (Equinix Metal v1): project BGP configuration, device BGP
sessions and neighbors. Every lookup starts from the caller's projects (another tenant's object is 404);
writes go through apps.network.bgp."""
from __future__ import annotations

from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import MANAGE, WRITE, visible_projects
from apps.network import bgp
from apps.network.api import serializers as s
from apps.network.bgp_plan import server_neighbors
from apps.network.devices import DeviceRef, customer_device
from apps.network.models import BgpConfig, BgpSession


def _validated(serializer: type, data: Any) -> dict[str, Any]:
    body = serializer(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


def _device(request: Request, pk: Any) -> DeviceRef:
    device = customer_device(request.user, request_token(request), pk)
    if device is None:
        raise Http404
    return device


def _sessions(request: Request):  # noqa: ANN202 - a queryset of BgpSession
    return BgpSession.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk")).select_related("server")


class ProjectBgpConfigView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        config = BgpConfig.objects.filter(project=project).select_related("project").first()
        return Response(s.bgp_config_out(config, project_id=project.pk))


class ProjectBgpSessionsView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        sessions = BgpSession.objects.filter(project=project).select_related("server").order_by("created_at", "pk")
        return Response({"bgp_sessions": [s.bgp_session_out(x) for x in sessions], "href": f"{s.BASE}/projects/{project.pk}/bgp/sessions"})


class ProjectGlobalBgpRangesView(GenericAPIView):
    """Global BGP ranges are the customer's own address space registered with the provider; Metalyard filters on
    the project's IPAM reservations instead, so the list is empty."""

    def get(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        return Response({"global_bgp_ranges": [], "href": f"{s.BASE}/projects/{project.pk}/global-bgp-ranges"})


class ProjectBgpConfigRequestView(GenericAPIView):
    def post(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        require(request, project, MANAGE)
        data = _validated(s.BgpConfigIn, request.data)
        bgp.bgp_config_request(project=project, deployment_type=data["deployment_type"], asn=data["asn"], md5=data.get("md5") or None,
                               use_case=data.get("use_case") or "", actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceBgpSessionsView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        device = _device(request, pk)
        sessions = BgpSession.objects.filter(device_id=device.id).select_related("server").order_by("created_at", "pk")
        return Response({"bgp_sessions": [s.bgp_session_out(x) for x in sessions], "href": f"{s.BASE}/devices/{device.id}/bgp/sessions"})

    def post(self, request: Request, pk: Any) -> Response:
        device = _device(request, pk)
        require(request, device.project, WRITE)
        data = _validated(s.BgpSessionIn, request.data)
        session = bgp.bgp_session_create(device=device, address_family=data["address_family"], default_route=bool(data.get("default_route")),
                                         actor=actor_of(request))
        return Response(s.bgp_session_out(session), status=status.HTTP_201_CREATED)


class BgpSessionView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(s.bgp_session_out(get_object_or_404(_sessions(request), pk=pk)))

    def put(self, request: Request, pk: Any) -> Response:
        session = get_object_or_404(_sessions(request), pk=pk)
        require(request, session.project, WRITE)
        # The specification's body is a bare boolean (default_route); an object with the field is taken too.
        body = request.data.get("default_route") if isinstance(request.data, dict) else request.data
        if not isinstance(body, bool):
            raise ValidationError({"default_route": "Send true or false (whether the switch sends you a default route)."})
        session = bgp.bgp_session_update(session=session, default_route=body, actor=actor_of(request))
        return Response(s.bgp_session_out(session))

    def delete(self, request: Request, pk: Any) -> Response:
        session = get_object_or_404(_sessions(request), pk=pk)
        require(request, session.project, WRITE)
        bgp.bgp_session_delete(session=session, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceBgpNeighborsView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        device = _device(request, pk)
        neighbors = server_neighbors(device.server, device_id=device.id) if device.server is not None else []
        config = BgpConfig.objects.filter(project=device.project).first()
        md5 = config.md5 if config else ""
        return Response({"bgp_neighbors": [s.neighbor_out(n, md5=md5) for n in neighbors], "href": f"{s.BASE}/devices/{device.id}/bgp/neighbors"})
