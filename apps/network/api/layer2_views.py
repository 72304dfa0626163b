"""The customer API of Layer 2 (Equinix Metal v1): a project's virtual networks and a device's ports —
assign and unassign VLANs, native VLAN, convert between Layer 2 and Layer 3, bond and disbond. Lookups start
from the caller's projects (another tenant's VLAN or port is 404); writes go through apps.network.layer2."""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.facilities.models import Facility, Metro
from apps.hardware.models import NetworkInterface
from apps.ipam.selectors import server_addresses
from apps.network import layer2
from apps.network.api import layer2_serializers as s
from apps.network.devices import customer_device
from apps.network.models import VirtualNetwork
from project.public_ids import key_of


def _validated(serializer: type, data: Any) -> dict[str, Any]:
    body = serializer(data=data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


def _vlans(request: Request) -> QuerySet[VirtualNetwork]:
    return VirtualNetwork.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk")).select_related("metro")


def _metro(data: dict[str, Any]) -> Metro:
    code = (data.get("metro") or "").strip()
    if code:
        metro = Metro.objects.filter(Q(code__iexact=code) | Q(pk=key_of("metro", code) or 0)).first()
        if metro is None:
            raise ValidationError({"metro": f"There is no metro '{code}'."})
        return metro
    facility = (data.get("facility") or "").strip()
    if facility:
        found = Facility.objects.filter(Q(code__iexact=facility) | Q(pk=key_of("facility", facility) or 0)).select_related("metro").first()
        if found is None:
            raise ValidationError({"facility": f"There is no facility '{facility}'."})
        return found.metro
    raise ValidationError({"metro": "Say in which metro the VLAN lives."})


class ProjectVlansView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        vlans = VirtualNetwork.objects.filter(project=project).select_related("metro").order_by("metro__code", "vxlan")
        return Response({"virtual_networks": [s.vlan_out(v) for v in vlans], "href": f"{s.BASE}/projects/{project.pk}/virtual-networks"})

    def post(self, request: Request, pk: Any) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        require(request, project, WRITE)
        data = _validated(s.VlanIn, request.data)
        vxlan = data.get("vxlan") if data.get("vxlan") is not None else data.get("vlan")
        vlan = layer2.vlan_create(project=project, metro=_metro(data), vxlan=vxlan, description=data.get("description") or "",
                                  tags=data.get("tags") or [], actor=actor_of(request))
        return Response(s.vlan_out(vlan), status=status.HTTP_201_CREATED)


class VlanView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(s.vlan_out(get_object_or_404(_vlans(request), pk=pk)))

    def put(self, request: Request, pk: Any) -> Response:
        vlan = get_object_or_404(_vlans(request), pk=pk)
        require(request, vlan.project, WRITE)
        data = _validated(s.VlanUpdateIn, request.data)
        vlan = layer2.vlan_update(vlan=vlan, description=data.get("description"), tags=data.get("tags"), actor=actor_of(request))
        return Response(s.vlan_out(vlan))

    def delete(self, request: Request, pk: Any) -> Response:
        vlan = get_object_or_404(_vlans(request), pk=pk)
        require(request, vlan.project, WRITE)
        layer2.vlan_delete(vlan=vlan, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------- ports


class PortTarget:
    """The port of a URL: a NIC (`kind` "nic") or the device's bond0 (`kind` "bond"), with the device that holds it."""

    def __init__(self, request: Request, pk: Any) -> None:
        nic_pk, self.kind = key_of("port", pk), "nic"
        if nic_pk is None:
            nic_pk, self.kind = key_of("bond_port", pk), "bond"
        nic = NetworkInterface.objects.filter(pk=nic_pk or 0, cable__isnull=False).select_related("server__facility", "cable__port").first()
        if nic is None:
            raise Http404
        holder = next((a.device_id for a in server_addresses(nic.server) if a.device_id), None)
        device = customer_device(request.user, request_token(request), holder) if holder else None
        if device is None:
            raise Http404
        self.nic, self.device = nic, device
        self.nics = list(NetworkInterface.objects.filter(server=nic.server, cable__isnull=False).select_related("port_layer", "cable__port")
                         .order_by("name", "pk"))

    def out(self) -> dict[str, Any]:
        fresh = [NetworkInterface.objects.select_related("port_layer__native_vlan__metro", "cable__port").get(pk=n.pk) for n in self.nics]
        device_type = s.network_type([getattr(n, "port_layer", None) for n in fresh])
        nic = next(n for n in fresh if n.pk == self.nic.pk)
        return s.port_out(nic, first_nic=fresh[0], kind=self.kind, device_type=device_type)

    def nic_only(self, what: str) -> NetworkInterface:
        if self.kind == "bond":
            raise ValidationError({"port": f"{what} on bond0 (bonded Layer 2, LACP) is not offered; do it on eth0/eth1 (layer2-individual or hybrid)."})
        return self.nic


def _vlan_of(request: Request, target: PortTarget, vnid: str | None) -> VirtualNetwork:
    if not vnid:
        raise ValidationError({"vnid": "Say which VLAN (its id, or its VLAN number)."})
    vlans = VirtualNetwork.objects.filter(project=target.device.project)
    try:
        vlan = vlans.filter(pk=uuid.UUID(str(vnid))).first()
    except ValueError:
        vlan = vlans.filter(vxlan=int(vnid), metro_id=target.nic.server.facility.metro_id).first() if str(vnid).isdigit() else None
    if vlan is None:
        other = _vlans(request).filter(pk=vnid).first() if _is_uuid(vnid) else None
        if other is not None:
            raise ValidationError({"vnid": "That VLAN belongs to another project."})
        raise ValidationError({"vnid": f"The project has no VLAN '{vnid}' in the device's metro."})
    return vlan


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class PortView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(PortTarget(request, pk).out())


class PortActionView(GenericAPIView):
    """POST /ports/{id}/<action>: assign, unassign, native-vlan, convert/layer-2, convert/layer-3, bond, disbond."""

    action_name = ""

    def post(self, request: Request, pk: Any) -> Response:
        target = PortTarget(request, pk)
        require(request, target.device.project, WRITE)
        # The SDK sends the native VLAN's vnid in the query string; the others send a JSON body.
        data = {**request.query_params.dict(), **(request.data if isinstance(request.data, dict) else {})}
        who = {"device_label": target.device.hostname, "actor": actor_of(request)}
        action = self.action_name
        if action == "assign":
            layer2.port_assign(interface=target.nic_only("Assigning a VLAN"), vlan=_vlan_of(request, target, data.get("vnid")),
                               project=target.device.project, **who)
        elif action == "unassign":
            layer2.port_unassign(interface=target.nic_only("Unassigning a VLAN"), vlan=_vlan_of(request, target, data.get("vnid")), **who)
        elif action == "native-vlan":
            layer2.port_native_vlan(interface=target.nic_only("A native VLAN"), vlan=_vlan_of(request, target, data.get("vnid")), **who)
        elif action == "convert/layer-2":
            nic = target.nic_only("Converting to Layer 2")
            vnid = data.get("vnid")
            vlan = _vlan_of(request, target, vnid) if vnid else None
            layer2.port_convert(interface=nic, layer2=True, **who)
            if vlan is not None:
                layer2.port_assign(interface=nic, vlan=vlan, project=target.device.project, **who)
        elif action == "convert/layer-3":
            nics = target.nics if target.kind == "bond" else [target.nic]
            for nic in nics:
                layer2.port_convert(interface=nic, layer2=False, **who)
        elif action in ("bond", "disbond"):
            nics = target.nics if target.kind == "bond" else [target.nic]
            for nic in nics:
                layer2.port_bond(interface=nic, bonded=action == "bond", **who)
        return Response(target.out())

    def delete(self, request: Request, pk: Any) -> Response:
        if self.action_name != "native-vlan":
            return Response({"errors": ["Method not allowed."]}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        target = PortTarget(request, pk)
        require(request, target.device.project, WRITE)
        layer2.port_native_vlan(interface=target.nic_only("A native VLAN"), vlan=None, device_label=target.device.hostname, actor=actor_of(request))
        return Response(target.out())
