"""What packngo (v0.31, the SDK under Terraform's equinix_metal_device_network_type) does on the client side to
change a device's network type, transcribed call for call from devices.go and device_ports.go, and the
provider's VlanBatch (internal/resources/metal/batch) that equinix_metal_port_vlan_attachment runs. Each HTTP
call goes through a tests.api.terraform.Transport, so the server sees exactly the provider's sequence."""
from __future__ import annotations

import time
from typing import Any

from tests.api.terraform import ProviderError, Transport, validate_uuid

L3, HYBRID, L2_BONDED, L2_INDIVIDUAL = "layer3", "hybrid", "layer2-bonded", "layer2-individual"


def get_network_type(device: dict[str, Any]) -> str:
    """packngo Device.GetNetworkType: from the ports' `bonded` flags and whether the device has management addresses."""
    ports = device.get("network_ports") or []
    bonds = [p for p in ports if p["type"] == "NetworkBondPort"]
    phys = [p for p in ports if p["type"] == "NetworkPort"]

    def all_bonded(group: list[dict[str, Any]]) -> bool:
        return bool(group) and all((p.get("data") or {}).get("bonded") for p in group)

    if all_bonded(bonds):
        if all_bonded(phys):
            return L3 if any(a.get("management") for a in device.get("ip_addresses") or []) else L2_BONDED
        return HYBRID
    return L2_INDIVIDUAL


class DevicePorts:
    """packngo's DevicePortServiceOp, the deprecated helpers the provider still calls."""

    def __init__(self, tf: Transport) -> None:
        self.tf = tf

    def device(self, device_id: str) -> dict[str, Any]:
        return self.tf("GET", f"devices/{validate_uuid(device_id)}")

    def port_by_name(self, device_id: str, name: str) -> dict[str, Any]:
        found = [p for p in self.device(device_id)["network_ports"] if p["name"] == name]
        if not found:
            raise ProviderError(f"Port {name} not found in device {device_id}")
        return found[0]

    def bond(self, port: dict[str, Any], bulk: bool) -> None:
        if not port["data"]["bonded"]:
            self.tf("POST", f"ports/{validate_uuid(port['id'])}/bond", {"bulk_enable": bulk})

    def disbond(self, port: dict[str, Any], bulk: bool) -> None:
        if port["data"]["bonded"]:
            self.tf("POST", f"ports/{validate_uuid(port['id'])}/disbond", {"bulk_disable": bulk})

    def to_layer2(self, device_id: str, name: str) -> None:
        port = self.port_by_name(device_id, name)
        if not (port.get("network_type") or "").startswith("layer2"):
            self.tf("POST", f"ports/{validate_uuid(port['id'])}/convert/layer-2")  # no body

    def to_layer3(self, device_id: str, name: str) -> None:
        port = self.port_by_name(device_id, name)
        if port.get("network_type") in (L3, HYBRID):
            return
        self.tf("POST", f"ports/{validate_uuid(port['id'])}/convert/layer-3", {"request_ips": [
            {"address_family": 4, "public": True}, {"address_family": 4, "public": False}, {"address_family": 6, "public": True}]})

    def convert_device(self, device: dict[str, Any], target: str) -> None:
        """ConvertDevice, with `device` as read before the conversion (packngo works on that stale copy)."""
        device_id = device["id"]
        bond_ports = [p for p in device["network_ports"] if p["type"] == "NetworkBondPort"]
        if target == L3:
            for port in bond_ports:
                self.bond(port, False)
            self.to_layer3(device_id, "bond0")
            for port in [p for p in self.device(device_id)["network_ports"] if p["type"] == "NetworkPort"]:
                self.bond(port, False)
        if target == HYBRID:
            for port in bond_ports:
                self.bond(port, False)
            self.to_layer3(device_id, "bond0")
            fresh = self.device(device_id)["network_ports"]
            for port in [p for p in fresh if p["name"] in ("eth1", "eth3")]:
                self.disbond(port, False)
        if target == L2_INDIVIDUAL:
            self.to_layer2(device_id, "bond0")
            for port in bond_ports:
                self.disbond(port, True)
        if target == L2_BONDED:
            for port in bond_ports:
                self.to_layer2(device_id, port["name"])
            for port in [p for p in self.device(device_id)["network_ports"] if p["type"] == "NetworkPort"]:
                self.bond(port, False)

    def device_to_network_type(self, device_id: str, target: str) -> dict[str, Any]:
        device = self.device(device_id)
        current = get_network_type(device)
        if current == target:
            raise ProviderError(f"Device already is in state {target}")
        self.convert_device(device, target)
        final = get_network_type(self.device(device_id))
        if final != target:
            raise ProviderError(f"Failed to convert device {device_id} from {current} to {target}. New type was {final}")
        return self.device(device_id)


def network_type_resource_apply(tf: Transport, device_id: str, target: str) -> str:
    """equinix_metal_device_network_type Create/Update then Read: convert unless already there ("hybrid-bonded" is
    layer3 with VLANs on bond0, so it counts as layer3), then the type read back."""
    wanted = L3 if target == "hybrid-bonded" else target
    ports = DevicePorts(tf)
    if get_network_type(ports.device(device_id)) != wanted:
        ports.device_to_network_type(device_id, wanted)
    read = get_network_type(ports.device(device_id))
    return "hybrid-bonded" if target == "hybrid-bonded" and read == L3 else read


def vlan_batch_execute(tf: Transport, port_id: str, entries: list[dict[str, Any]], *, timeout: float = 60) -> dict[str, Any]:
    """The provider's VlanBatch.Execute: create the batch, then poll it until completed or failed (failed is an error)."""
    if not entries:
        return {}
    batch = tf("POST", f"ports/{port_id}/vlan-assignments/batches", {"vlan_assignments": entries})
    deadline = time.monotonic() + timeout
    while True:
        polled = tf("GET", f"ports/{port_id}/vlan-assignments/batches/{batch['id']}")
        if polled["state"] == "failed":
            raise ProviderError(f"vlan assignment batch {polled['id']} provisioning failed: {'; '.join(polled['error_messages'])}")
        if polled["state"] == "completed":
            return polled
        if time.monotonic() > deadline:
            raise ProviderError(f"vlan assignment batch {batch['id']} still {polled['state']}")
        time.sleep(0.2)
