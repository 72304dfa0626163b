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
from apps.network import layer2, vlan_batches
from apps.network.api import layer2_serializers as s
from apps.network.devices import customer_device
from apps.network.models import PortLayer, VirtualNetwork, VlanAssignmentBatch
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


def _included(request: Request) -> set[str]:
    return {part.strip() for part in request.query_params.get("include", "").split(",") if part.strip()}


def _instances(vlan: VirtualNetwork) -> list[dict[str, Any]]:
    """The devices whose ports carry the VLAN, each with its ports (what Terraform unassigns before deleting it)."""
    layers = PortLayer.objects.filter(Q(virtual_networks=vlan) | Q(native_vlan=vlan)).exclude(device_id=None).select_related("interface")
    servers = {layer.device_id: layer.interface.server_id for layer in layers}
    found = []
    for device_id, server_id in sorted(servers.items(), key=lambda item: str(item[0])):
        nics = list(NetworkInterface.objects.filter(server_id=server_id, cable__isnull=False).order_by("name", "pk")
                    .select_related("port_layer__native_vlan__metro", "cable__port").prefetch_related("port_layer__virtual_networks__metro"))
        found.append({"id": str(device_id), "href": f"{s.BASE}/devices/{device_id}", "network_ports": s.device_ports(nics)})
    return found


class VlanView(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        vlan = get_object_or_404(_vlans(request), pk=pk)
        return Response(s.vlan_out(vlan, instances=_instances(vlan) if "instances" in _included(request) else None))

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
        fresh = [NetworkInterface.objects.select_related("port_layer__native_vlan__metro", "cable__port")
                 .prefetch_related("port_layer__virtual_networks__metro").get(pk=n.pk) for n in self.nics]
        ports = s.device_ports(fresh)
        wanted = s.bond_ref(fresh[0])["id"] if self.kind == "bond" else s.public_id("port", self.nic.pk)
        return next(p for p in ports if p["id"] == wanted)

    @property
    def is_bond(self) -> bool:
        return self.kind == "bond"


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
        action, nic, bond = self.action_name, target.nic, target.is_bond
        if action == "assign":
            layer2.port_assign(interface=nic, vlan=_vlan_of(request, target, data.get("vnid")), project=target.device.project, bond=bond, **who)
        elif action == "unassign":
            layer2.port_unassign(interface=nic, vlan=_vlan_of(request, target, data.get("vnid")), **who)
        elif action == "native-vlan":
            layer2.port_native_vlan(interface=nic, vlan=_vlan_of(request, target, data.get("vnid")), **who)
        elif action in ("convert/layer-2", "convert/layer-3"):
            to_layer2 = action == "convert/layer-2"
            vnid = data.get("vnid") if to_layer2 else None
            vlan = _vlan_of(request, target, vnid) if vnid else None
            if bond:
                layer2.bond_convert(interface=nic, layer2=to_layer2, **who)
            else:
                layer2.port_convert(interface=nic, layer2=to_layer2, **who)
            if vlan is not None:
                layer2.port_assign(interface=nic, vlan=vlan, project=target.device.project, bond=bond, **who)
        elif action in ("bond", "disbond"):
            if bond:
                layer2.bond_set(interface=nic, bonded=action == "bond", **who)
            else:
                layer2.port_bond(interface=nic, bonded=action == "bond", **who)
        return Response(target.out())

    def delete(self, request: Request, pk: Any) -> Response:
        if self.action_name != "native-vlan":
            return Response({"errors": ["Method not allowed."]}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        target = PortTarget(request, pk)
        require(request, target.device.project, WRITE)
        layer2.port_native_vlan(interface=target.nic, vlan=None, device_label=target.device.hostname, actor=actor_of(request))
        return Response(target.out())


# ---------------------------------------------------------------------------------------------- VLAN assignments


def _carried(target: PortTarget) -> PortLayer | None:
    """The layer whose VLANs the port carries: a NIC's own, or bond0's (kept on the first NIC) while it is an LACP bundle."""
    layer = PortLayer.objects.filter(interface=target.nic, device_id=target.device.id).prefetch_related("virtual_networks").first()
    bundled = layer is not None and layer.layer2 and layer.bonded
    return layer if bundled == target.is_bond else None


def _port_ref(target: PortTarget) -> tuple[str, str]:
    port_id = s.bond_ref(target.nic)["id"] if target.is_bond else s.public_id("port", target.nic.pk)
    return port_id, f"{s.BASE}/ports/{port_id}"


class PortVlanAssignmentsView(GenericAPIView):
    """GET /ports/{id}/vlan-assignments: the VLANs the port carries now, each with whether it is native."""

    def get(self, request: Request, pk: Any) -> Response:
        target = PortTarget(request, pk)
        _, href = _port_ref(target)
        layer = _carried(target)
        return Response({"vlan_assignments": vlan_batches.current_assignments(layer, port_href=href)})


class PortVlanAssignmentView(GenericAPIView):
    def get(self, request: Request, pk: Any, assignment_id: Any) -> Response:
        target = PortTarget(request, pk)
        _, href = _port_ref(target)
        layer = _carried(target)
        found = [a for a in vlan_batches.current_assignments(layer, port_href=href) if a["id"] == str(assignment_id)]
        if not found:
            raise Http404
        return Response(found[0])


class PortVlanBatchesView(GenericAPIView):
    """GET, POST /ports/{id}/vlan-assignments/batches: several assignments applied as one change and one push."""

    def get(self, request: Request, pk: Any) -> Response:
        target = PortTarget(request, pk)
        port_id, href = _port_ref(target)
        batches = VlanAssignmentBatch.objects.filter(interface=target.nic, bond=target.is_bond, device_id=target.device.id)
        return Response({"batches": [vlan_batches.batch_out(b, port_href=href, port_id=port_id) for b in batches]})

    def post(self, request: Request, pk: Any) -> Response:
        target = PortTarget(request, pk)
        require(request, target.device.project, WRITE)
        entries = request.data.get("vlan_assignments") if isinstance(request.data, dict) else None
        batch = vlan_batches.vlan_batch_create(device=target.device, interface=target.nic, bond=target.is_bond, entries=entries,
                                               actor=actor_of(request))
        port_id, href = _port_ref(target)
        return Response(vlan_batches.batch_out(batch, port_href=href, port_id=port_id), status=status.HTTP_201_CREATED)


class PortVlanBatchView(GenericAPIView):
    def get(self, request: Request, pk: Any, batch_id: Any) -> Response:
        target = PortTarget(request, pk)
        batch = get_object_or_404(VlanAssignmentBatch, pk=batch_id, interface=target.nic, bond=target.is_bond, device_id=target.device.id)
        port_id, href = _port_ref(target)
        return Response(vlan_batches.batch_out(batch, port_href=href, port_id=port_id))
