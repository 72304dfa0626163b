"""Every write of Layer 2: a project's VLANs (virtual networks, a VLAN id per metro allocated without
collisions) and a device's ports — converted between routed (Layer 3) and a Layer 2 trunk, VLANs assigned
and unassigned, the native VLAN, bond membership as the real service shows it.

A port change recomputes the server's ports from the model (`port_configure_for_server`) and pushes them
after commit through the same locked, confirmed commit. Converting back to Layer 3 restores the routed link:
the device's addresses stay assigned in IPAM while a port is Layer 2, so the rendered lines are the same.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.facilities.models import Metro
from apps.hardware.models import NetworkInterface, Server
from apps.ipam.selectors import server_addresses
from apps.network.models import BgpSession, PortLayer, VirtualNetwork
from apps.network.services import PROVISIONED_SERVER_STATES, port_configure_for_server

VLAN_RANGE = (2, 3999)
FIRST_AUTOMATIC_VLAN = 1000


def vlan_create(*, project: Any, metro: Metro, vxlan: int | None = None, description: str = "", tags: list[str] | None = None,
                actor: Any = None) -> VirtualNetwork:
    """A VLAN for the project in the metro: the id asked for, or the lowest free one from 1000 up."""
    if vxlan is not None and not VLAN_RANGE[0] <= int(vxlan) <= VLAN_RANGE[1]:
        raise ValidationError({"vxlan": f"A VLAN id is from {VLAN_RANGE[0]} to {VLAN_RANGE[1]}."})
    with transaction.atomic():
        # The metro row orders every VLAN creation in the metro, so two requests never pick the same id.
        Metro.objects.select_for_update().get(pk=metro.pk)
        used = set(VirtualNetwork.objects.filter(metro=metro).values_list("vxlan", flat=True))
        if vxlan is None:
            vxlan = next((v for v in [*range(FIRST_AUTOMATIC_VLAN, VLAN_RANGE[1] + 1), *range(VLAN_RANGE[0], FIRST_AUTOMATIC_VLAN)]
                          if v not in used), None)
            if vxlan is None:
                raise ValidationError({"vxlan": f"Every VLAN id of metro {metro.code} is taken."})
        elif int(vxlan) in used:
            raise ValidationError({"vxlan": f"VLAN {vxlan} is already used in metro {metro.code}; pick another or leave it out."})
        try:
            with transaction.atomic():
                vlan = VirtualNetwork.objects.create(project=project, metro=metro, vxlan=int(vxlan), description=description[:200],
                                                     tags=list(tags or []))
        except IntegrityError:  # the database's unique rule, should the lock above ever be bypassed
            raise ValidationError({"vxlan": f"VLAN {vxlan} is already used in metro {metro.code}."}) from None
        audit_record(action="network.vlan.create", target=vlan, actor=actor,
                     changes={"project": [None, str(project.pk)], "metro": [None, metro.code], "vxlan": [None, vlan.vxlan]})
    return vlan


def vlan_update(*, vlan: VirtualNetwork, description: str | None = None, tags: list[str] | None = None, actor: Any = None) -> VirtualNetwork:
    with transaction.atomic():
        locked = VirtualNetwork.objects.select_for_update().get(pk=vlan.pk)
        before = {"description": locked.description, "tags": locked.tags}
        if description is not None:
            locked.description = description[:200]
        if tags is not None:
            locked.tags = list(tags)
        locked.save()
        audit_record(action="network.vlan.update", target=locked, actor=actor,
                     changes={k: [v, getattr(locked, k)] for k, v in before.items() if v != getattr(locked, k)})
    return locked


def vlan_delete(*, vlan: VirtualNetwork, actor: Any = None) -> None:
    with transaction.atomic():
        locked = VirtualNetwork.objects.select_for_update().get(pk=vlan.pk)
        if locked.port_layers.exists() or PortLayer.objects.filter(native_vlan=locked).exists():
            raise ValidationError({"vxlan": f"VLAN {locked.vxlan} is still assigned to device ports; unassign it first."})
        audit_record(action="network.vlan.delete", target=locked, actor=actor, changes={"vxlan": [locked.vxlan, None]})
        locked.delete()


# ---------------------------------------------------------------------------------------------- ports


def _locked(interface: NetworkInterface) -> tuple[Server, PortLayer]:
    server = Server.objects.select_for_update().get(pk=interface.server_id)
    if server.state not in PROVISIONED_SERVER_STATES:
        raise ValidationError({"port": f"The device's server is {server.state}; ports change only on a provisioned device."})
    if not hasattr(interface, "cable") or interface.cable is None:
        raise ValidationError({"port": f"{interface.name} is not cabled to a switch port."})
    holder = next((a.device_id for a in server_addresses(server) if a.device_id), None)
    if holder is None:
        raise ValidationError({"port": "No device holds this server's links; ports change only on a provisioned device."})
    layer, _ = PortLayer.objects.select_for_update().get_or_create(interface=interface, defaults={"device_id": holder})
    if layer.device_id != holder:  # left by an earlier tenant (port_configure_for_server removes these): start afresh
        layer.delete()
        layer = PortLayer.objects.create(interface=interface, device_id=holder)
    return server, layer


def _first_nic(server: Server) -> NetworkInterface | None:
    return NetworkInterface.objects.filter(server=server, cable__isnull=False).order_by("name", "pk").first()


def _apply(server: Server, layer: PortLayer, *, action: str, changes: dict[str, Any], actor: Any, device_label: str) -> PortLayer:
    audit_record(action=f"network.port.{action}", target=layer, actor=actor, reason=f"{device_label} {layer.interface.name}",
                 changes=changes | {"port": [None, layer.interface.name]})
    port_configure_for_server(server=server, actor=actor, reason=f"{device_label} {layer.interface.name}: {action.replace('_', ' ')}")
    return layer


def port_convert(*, interface: NetworkInterface, layer2: bool, device_label: str = "", actor: Any = None) -> PortLayer:
    """Layer 2 (a trunk of the port's VLANs) or back to Layer 3 (routed on the first NIC, dark on the others)."""
    with transaction.atomic():
        server, layer = _locked(interface)
        if layer.layer2 == layer2:
            return layer
        first = _first_nic(server)
        if layer2 and first is not None and first.pk == interface.pk and BgpSession.objects.filter(server=server).exists():
            raise ValidationError({"port": f"{interface.name} carries the device's BGP sessions; delete them before converting it to Layer 2."})
        layer.layer2 = layer2
        if not layer2:
            layer.native_vlan = None
            layer.virtual_networks.clear()
        layer.save()
        return _apply(server, layer, action="convert_layer2" if layer2 else "convert_layer3", actor=actor, device_label=device_label,
                      changes={"layer": ["3" if layer2 else "2", "2" if layer2 else "3"]})


def _check_vlan(server: Server, vlan: VirtualNetwork, project: Any) -> None:
    if vlan.project_id != project.pk:
        raise ValidationError({"vnid": "That VLAN belongs to another project."})
    if vlan.metro_id != server.facility.metro_id:
        raise ValidationError({"vnid": f"VLAN {vlan.vxlan} is in another metro than the device."})


def port_assign(*, interface: NetworkInterface, vlan: VirtualNetwork, project: Any, device_label: str = "", actor: Any = None) -> PortLayer:
    with transaction.atomic():
        server, layer = _locked(interface)
        _check_vlan(server, vlan, project)
        if not layer.layer2:
            raise ValidationError({"port": f"{interface.name} is a Layer 3 port; convert it to Layer 2 first."})
        if layer.virtual_networks.filter(pk=vlan.pk).exists():
            return layer
        layer.virtual_networks.add(vlan)
        return _apply(server, layer, action="assign", actor=actor, device_label=device_label, changes={"vlan": [None, vlan.vxlan]})


def port_unassign(*, interface: NetworkInterface, vlan: VirtualNetwork, device_label: str = "", actor: Any = None) -> PortLayer:
    with transaction.atomic():
        server, layer = _locked(interface)
        if not layer.virtual_networks.filter(pk=vlan.pk).exists():
            raise ValidationError({"vnid": f"VLAN {vlan.vxlan} is not assigned to {interface.name}."})
        layer.virtual_networks.remove(vlan)
        if layer.native_vlan_id == vlan.pk:
            layer.native_vlan = None
            layer.save()
        return _apply(server, layer, action="unassign", actor=actor, device_label=device_label, changes={"vlan": [vlan.vxlan, None]})


def port_native_vlan(*, interface: NetworkInterface, vlan: VirtualNetwork | None, device_label: str = "", actor: Any = None) -> PortLayer:
    """The VLAN the port carries untagged (one of its assigned VLANs), or none."""
    with transaction.atomic():
        server, layer = _locked(interface)
        if vlan is not None and not layer.virtual_networks.filter(pk=vlan.pk).exists():
            raise ValidationError({"vnid": f"VLAN {vlan.vxlan} is not assigned to {interface.name}; assign it first."})
        before = layer.native_vlan.vxlan if layer.native_vlan_id else None
        layer.native_vlan = vlan
        layer.save()
        return _apply(server, layer, action="native_vlan", actor=actor, device_label=device_label,
                      changes={"native_vlan": [before, vlan.vxlan if vlan else None]})


def port_bond(*, interface: NetworkInterface, bonded: bool, device_label: str = "", actor: Any = None) -> PortLayer:
    """Bond membership as the real service reports it (Terraform disbonds a NIC before making it Layer 2). The switch
    side has no LACP bond to change: the routed link is one NIC's, and a disbonded NIC keeps its Layer 2 trunk."""
    with transaction.atomic():
        _, layer = _locked(interface)
        if layer.bonded == bonded:
            return layer
        layer.bonded = bonded
        layer.save()
        audit_record(action="network.port.bond" if bonded else "network.port.disbond", target=layer, actor=actor,
                     changes={"bonded": [not bonded, bonded], "port": [None, interface.name]}, reason=device_label)
    return layer
