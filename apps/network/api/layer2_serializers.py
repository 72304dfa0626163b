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


def vlan_out(vlan: VirtualNetwork) -> dict[str, Any]:
    metro = vlan.metro
    return {
        "id": str(vlan.pk), "href": f"{BASE}/virtual-networks/{vlan.pk}", "vxlan": vlan.vxlan, "description": vlan.description or None,
        "tags": list(vlan.tags), "metro_code": metro.code, "facility": None,
        "metro": {"id": public_id("metro", metro.pk), "code": metro.code, "name": metro.name, "country": metro.country, "href": metro_href(metro.pk)},
        "assigned_to": {"id": str(vlan.project_id), "href": f"{BASE}/projects/{vlan.project_id}"},
        "assigned_to_virtual_circuit": False, "instances": [], "metal_gateways": [],
        "created_at": _time(vlan.created_at),
    }


def bond_ref(first_nic: NetworkInterface) -> dict[str, str]:
    bond_id = public_id("bond_port", first_nic.pk)
    return {"id": bond_id, "name": "bond0", "href": f"{BASE}/ports/{bond_id}"}


def network_type(layers: list[PortLayer | None]) -> str:
    """The device's composite network type from its NICs (first = the routed one), as the real service names it."""
    layer2 = [bool(layer and layer.layer2) for layer in layers]
    if not any(layer2):
        return "layer3"
    if not layer2[0]:
        return "hybrid"
    return "layer2-individual"


def port_out(nic: NetworkInterface, *, first_nic: NetworkInterface, kind: str, device_type: str) -> dict[str, Any]:
    layer: PortLayer | None = getattr(nic, "port_layer", None)
    bond = bond_ref(first_nic)
    if kind == "bond":
        return {**bond, "type": "NetworkBondPort", "network_type": device_type, "data": {"bonded": device_type == "layer3", "mac": None},
                "disbond_operation_supported": True, "virtual_networks": [], "native_virtual_network": None}
    vlans = sorted(layer.virtual_networks.all(), key=lambda v: v.vxlan) if layer else []  # prefetched on device pages
    native = layer.native_vlan if layer and layer.native_vlan_id else None
    port_id = public_id("port", nic.pk)
    cable = getattr(nic, "cable", None)
    return {"id": port_id, "name": nic.name, "href": f"{BASE}/ports/{port_id}", "type": "NetworkPort",
            "network_type": "layer2-individual" if layer and layer.layer2 else "layer3",
            "data": {"bonded": layer.bonded if layer else True, "mac": nic.mac}, "bond": bond, "disbond_operation_supported": True,
            "virtual_networks": [{"href": f"{BASE}/virtual-networks/{v.pk}"} for v in vlans],
            "native_virtual_network": vlan_out(native) if native else None,
            "switch_port": cable.port.name if cable is not None else None}


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
