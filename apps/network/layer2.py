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
from apps.network.port_plan import PROVISIONED_SERVER_STATES
from apps.network.services import port_configure_for_server

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


def port_layer_locked(interface: NetworkInterface) -> tuple[Server, PortLayer]:
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


def _cabled(server: Server) -> list[NetworkInterface]:
    return list(NetworkInterface.objects.filter(server=server, cable__isnull=False).select_related("cable__port").order_by("name", "pk"))


def _refuse_bgp_on_first(server: Server, interface: NetworkInterface) -> None:
    first = _first_nic(server)
    if first is not None and first.pk == interface.pk and BgpSession.objects.filter(server=server).exists():
        raise ValidationError({"port": f"{interface.name} carries the device's BGP sessions; delete them before converting it to Layer 2."})


def port_convert(*, interface: NetworkInterface, layer2: bool, device_label: str = "", actor: Any = None) -> PortLayer:
    """One NIC to Layer 2 (an individual trunk of its VLANs: it leaves the bond, as on the real service) or back to
    Layer 3 (in the bond again: routed on the first NIC, dark on the others; its VLANs are unassigned)."""
    with transaction.atomic():
        server, layer = port_layer_locked(interface)
        if layer.layer2 == layer2 and layer.bonded == (not layer2):
            return layer
        if layer2:
            _refuse_bgp_on_first(server, interface)
        before = (layer.layer2, layer.bonded)
        layer.layer2, layer.bonded = layer2, not layer2
        if not layer2:
            layer.native_vlan = None
            layer.virtual_networks.clear()
        layer.save()
        return _apply(server, layer, action="convert_layer2" if layer2 else "convert_layer3", actor=actor, device_label=device_label,
                      changes={"layer": ["2" if before[0] else "3", "2" if layer2 else "3"], "bonded": [before[1], layer.bonded]})


def check_vlan(server: Server, vlan: VirtualNetwork, project: Any) -> None:
    if vlan.project_id != project.pk:
        raise ValidationError({"vnid": "That VLAN belongs to another project."})
    if vlan.metro_id != server.facility.metro_id:
        raise ValidationError({"vnid": f"VLAN {vlan.vxlan} is in another metro than the device."})


def check_trunk(interface: NetworkInterface, layer: PortLayer, *, bond: bool) -> None:
    """VLANs go on an individual Layer 2 NIC, or on bond0 (stored on the first NIC's layer) while the bond is Layer 2 and bonded."""
    if bond:
        if not layer.layer2:
            raise ValidationError({"port": "bond0 is in Layer 3: VLANs on a Layer 3 bond (hybrid bonded) are not offered; convert bond0 to "
                                           "Layer 2, or disbond eth1 (hybrid)."})
        if not layer.bonded:
            raise ValidationError({"port": "bond0 is not bonded (layer2-individual): assign VLANs to eth0 or eth1."})
        return
    if not layer.layer2:
        raise ValidationError({"port": f"{interface.name} is a Layer 3 port; convert it to Layer 2 first."})
    if layer.bonded:
        raise ValidationError({"port": f"{interface.name} is a member of bond0 (layer2-bonded): assign VLANs to bond0, or disbond it first."})


def port_assign(*, interface: NetworkInterface, vlan: VirtualNetwork, project: Any, device_label: str = "", actor: Any = None,
                bond: bool = False) -> PortLayer:
    with transaction.atomic():
        server, layer = port_layer_locked(interface)
        check_vlan(server, vlan, project)
        check_trunk(interface, layer, bond=bond)
        if layer.virtual_networks.filter(pk=vlan.pk).exists():
            return layer
        layer.virtual_networks.add(vlan)
        return _apply(server, layer, action="assign", actor=actor, device_label=device_label, changes={"vlan": [None, vlan.vxlan]})


def port_unassign(*, interface: NetworkInterface, vlan: VirtualNetwork, device_label: str = "", actor: Any = None) -> PortLayer:
    with transaction.atomic():
        server, layer = port_layer_locked(interface)
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
        server, layer = port_layer_locked(interface)
        if vlan is not None and not layer.virtual_networks.filter(pk=vlan.pk).exists():
            raise ValidationError({"vnid": f"VLAN {vlan.vxlan} is not assigned to {interface.name}; assign it first."})
        before = layer.native_vlan.vxlan if layer.native_vlan_id else None
        layer.native_vlan = vlan
        layer.save()
        return _apply(server, layer, action="native_vlan", actor=actor, device_label=device_label,
                      changes={"native_vlan": [before, vlan.vxlan if vlan else None]})


def port_bond(*, interface: NetworkInterface, bonded: bool, device_label: str = "", actor: Any = None) -> PortLayer:
    """One NIC into bond0 or out of it, as the real service does it: a NIC leaving a Layer 3 bond becomes an
    individual Layer 2 trunk (hybrid); a NIC joining a Layer 3 bond goes back to Layer 3, joining a Layer 2 bond
    makes it a member of the LACP bundle. VLANs must be unassigned from a NIC before it joins the bond."""
    with transaction.atomic():
        server, layer = port_layer_locked(interface)
        if layer.bonded == bonded:
            return layer
        first = _first_nic(server)
        bond_layer2 = first is not None and _layer_of(first, holder=layer.device_id).layer2
        if not bonded and not bond_layer2 and first is not None and first.pk == interface.pk:
            raise ValidationError({"port": f"{interface.name} carries bond0's routed link; convert bond0 to Layer 2 before disbonding it."})
        if bonded and (layer.virtual_networks.exists() or layer.native_vlan_id) and not (first is not None and first.pk == interface.pk):
            raise ValidationError({"port": f"{interface.name} still carries VLANs; unassign them before bonding it."})
        if bonded and bond_layer2:
            _check_lacp(server)
        before = (layer.layer2, layer.bonded)
        layer.bonded = bonded
        layer.layer2 = True if not bonded else bond_layer2
        layer.save()
        return _apply(server, layer, action="bond" if bonded else "disbond", actor=actor, device_label=device_label,
                      changes={"bonded": [before[1], bonded], "layer": ["2" if before[0] else "3", "2" if layer.layer2 else "3"]})


def _layer_of(interface: NetworkInterface, *, holder: Any) -> PortLayer:
    layer = PortLayer.objects.filter(interface=interface, device_id=holder).first()
    return layer if layer is not None else PortLayer(interface=interface, device_id=holder)


def _check_lacp(server: Server) -> None:
    """A Layer 2 bond is an LACP bundle of the server's NICs on one switch: it needs two cabled NICs there."""
    nics = _cabled(server)
    if len(nics) < 2:
        raise ValidationError({"port": f"Server {server.serial} has {len(nics)} cabled NIC: a bond (LACP) needs two. Use layer2-individual."})
    switches = {nic.cable.port.switch_id for nic in nics}
    if len(switches) > 1:
        raise ValidationError({"port": f"Server {server.serial}'s NICs are cabled to {len(switches)} switches; a bond (LACP) needs them on one."})


def bond_convert(*, interface: NetworkInterface, layer2: bool, device_label: str = "", actor: Any = None) -> list[PortLayer]:
    """bond0 (the first NIC's id) to Layer 2 — every NIC becomes Layer 2, bonded ones an LACP bundle
    (layer2-bonded), disbonded ones individual trunks — or back to Layer 3: every NIC bonded and routed again on
    the first one, with the same addresses; VLANs are unassigned."""
    with transaction.atomic():
        server, _ = port_layer_locked(interface)
        nics = _cabled(server)
        layers = [port_layer_locked(nic)[1] for nic in nics]
        if layer2:
            _refuse_bgp_on_first(server, nics[0])
            if any(layer.bonded for layer in layers):
                _check_lacp(server)
        changed = []
        for nic, layer in zip(nics, layers, strict=True):
            bonded = layer.bonded if layer2 else True
            if (layer.layer2, layer.bonded) == (layer2, bonded):
                continue
            before = (layer.layer2, layer.bonded)
            layer.layer2, layer.bonded = layer2, bonded
            if not layer2:
                layer.native_vlan = None
                layer.virtual_networks.clear()
            layer.save()
            audit_record(action=f"network.port.{'convert_layer2' if layer2 else 'convert_layer3'}", target=layer, actor=actor,
                         reason=f"{device_label} bond0", changes={"layer": ["2" if before[0] else "3", "2" if layer2 else "3"],
                                                                   "bonded": [before[1], bonded], "port": [None, nic.name]})
            changed.append(layer)
        if changed:
            port_configure_for_server(server=server, actor=actor, reason=f"{device_label} bond0: convert to layer {'2' if layer2 else '3'}")
        return layers


def bond_set(*, interface: NetworkInterface, bonded: bool, device_label: str = "", actor: Any = None) -> list[PortLayer]:
    """bond0 bonded (every NIC in it: layer3, or layer2-bonded) or disbonded (every NIC alone: layer2-individual;
    a Layer 3 bond cannot be disbonded)."""
    with transaction.atomic():
        server, first_layer = port_layer_locked(interface)
        nics = _cabled(server)
        layers = [port_layer_locked(nic)[1] for nic in nics]
        if not bonded and not first_layer.layer2:
            raise ValidationError({"port": "bond0 is in Layer 3 and cannot be disbonded; convert it to Layer 2 first (or disbond eth1: hybrid)."})
        if bonded:
            carrying = [nic.name for nic, layer in zip(nics[1:], layers[1:], strict=True) if layer.virtual_networks.exists() or layer.native_vlan_id]
            if carrying:
                raise ValidationError({"port": f"{', '.join(carrying)} still carry VLANs; unassign them before bonding."})
            if first_layer.layer2:
                _check_lacp(server)
        changed = []
        for nic, layer in zip(nics, layers, strict=True):
            if layer.bonded == bonded and layer.layer2 == first_layer.layer2:
                continue
            before = (layer.layer2, layer.bonded)
            layer.bonded, layer.layer2 = bonded, first_layer.layer2
            layer.save()
            audit_record(action="network.port.bond" if bonded else "network.port.disbond", target=layer, actor=actor, reason=f"{device_label} bond0",
                         changes={"bonded": [before[1], bonded], "layer": ["2" if before[0] else "3", "2" if layer.layer2 else "3"],
                                  "port": [None, nic.name]})
            changed.append(layer)
        if changed:
            port_configure_for_server(server=server, actor=actor, reason=f"{device_label} bond0: {'bond' if bonded else 'disbond'}")
        return layers
