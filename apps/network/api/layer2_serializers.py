"""Equinix Metal v1 shapes of Layer 2: virtual networks (VLANs) and a device's ports."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.hardware.api.catalog import metro_href
from apps.hardware.models import NetworkInterface
from apps.network.models import PortLayer, VirtualNetwork
from project.public_ids import public_id

BASE = "/metal/v1"


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def vlan_out(vlan: VirtualNetwork, *, instances: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A VLAN; `instances` (the devices whose ports carry it, with their ports) when the caller included them."""
    metro = vlan.metro
    return {
        "id": str(vlan.pk), "href": f"{BASE}/virtual-networks/{vlan.pk}", "vxlan": vlan.vxlan, "description": vlan.description or None,
        "tags": list(vlan.tags), "metro_code": metro.code, "facility": None,
        "metro": {"id": public_id("metro", metro.pk), "code": metro.code, "name": metro.name, "country": metro.country, "href": metro_href(metro.pk)},
        "assigned_to": {"id": str(vlan.project_id), "href": f"{BASE}/projects/{vlan.project_id}"},
        "assigned_to_virtual_circuit": False, "instances": instances or [], "metal_gateways": [],
        "created_at": _time(vlan.created_at),
    }


def bond_ref(first_nic: NetworkInterface) -> dict[str, str]:
    bond_id = public_id("bond_port", first_nic.pk)
    return {"id": bond_id, "name": "bond0", "href": f"{BASE}/ports/{bond_id}"}


def _state(layer: PortLayer | None) -> tuple[bool, bool]:
    """(Layer 2, bonded) of one NIC: without a recorded choice a NIC is Layer 3 and in the bond."""
    return (bool(layer.layer2), bool(layer.bonded)) if layer is not None else (False, True)


def network_type(layers: list[PortLayer | None]) -> str:
    """The device's composite network type from its NICs (first = bond0's and the routed one), as the real service
    names it and as packngo's Device.GetNetworkType computes it from the ports' `bonded` flags: layer3 (every NIC
    bonded, routed), hybrid (bond0 routed, a NIC out of the bond in Layer 2), layer2-bonded (bond0 in Layer 2, an
    LACP bundle), layer2-individual (bond0 in Layer 2, every NIC on its own)."""
    states = [_state(layer) for layer in layers]
    if not states or not states[0][0]:
        return "hybrid" if any(layer2 for layer2, _ in states) else "layer3"
    return "layer2-bonded" if all(bonded for _, bonded in states) else "layer2-individual"


def port_out(nic: NetworkInterface, *, first_nic: NetworkInterface, kind: str, device_type: str,
             bond_bonded: bool = True, bond_vlans: PortLayer | None = None) -> dict[str, Any]:
    """One port as the real service shapes it. bond0's `bonded` is true while any NIC is in the bond (what packngo
    reads); its VLANs, while it is a Layer 2 bundle, are those of `bond_vlans` (the first NIC's layer)."""
    bond = bond_ref(first_nic)
    if kind == "bond":
        carried = bond_vlans if device_type == "layer2-bonded" else None
        return {**bond, "type": "NetworkBondPort", "network_type": device_type, "data": {"bonded": bond_bonded, "mac": None},
                "disbond_operation_supported": True, **_vlans_of(carried)}
    layer: PortLayer | None = getattr(nic, "port_layer", None)
    layer2, bonded = _state(layer)
    port_id = public_id("port", nic.pk)
    cable = getattr(nic, "cable", None)
    individual = layer if layer2 and not (bonded and device_type == "layer2-bonded") else None
    return {"id": port_id, "name": nic.name, "href": f"{BASE}/ports/{port_id}", "type": "NetworkPort",
            "network_type": ("layer2-bonded" if bonded else "layer2-individual") if layer2 else "layer3",
            "data": {"bonded": bonded, "mac": nic.mac}, "bond": bond, "disbond_operation_supported": True, **_vlans_of(individual),
            "switch_port": cable.port.name if cable is not None else None}


def _vlans_of(layer: PortLayer | None) -> dict[str, Any]:
    vlans = sorted(layer.virtual_networks.all(), key=lambda v: v.vxlan) if layer else []  # prefetched on device pages
    native = layer.native_vlan if layer and layer.native_vlan_id else None
    return {"virtual_networks": [vlan_out(v) for v in vlans], "native_virtual_network": vlan_out(native) if native else None}


def device_ports(nics: list[NetworkInterface]) -> list[dict[str, Any]]:
    """A device's ports: `bond0` with the device's composite `network_type`, then each cabled NIC."""
    if not nics:
        return []
    layers = [getattr(nic, "port_layer", None) for nic in nics]
    device_type = network_type(layers)
    bond_bonded = any(bonded for _, bonded in map(_state, layers))
    common = {"first_nic": nics[0], "device_type": device_type, "bond_bonded": bond_bonded, "bond_vlans": layers[0]}
    return [port_out(nics[0], kind="bond", **common), *(port_out(nic, kind="nic", **common) for nic in nics)]


class VlanIn(serializers.Serializer):
    metro = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    facility = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    vxlan = serializers.IntegerField(required=False, allow_null=True)
    vlan = serializers.IntegerField(required=False, allow_null=True)  # packet-python sends the id as `vlan` too
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(max_length=80), required=False, allow_null=True)


class VlanUpdateIn(serializers.Serializer):
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(max_length=80), required=False, allow_null=True)


class VnidIn(serializers.Serializer):
    vnid = serializers.CharField(required=False, allow_null=True, allow_blank=True)
