"""IPAM API shapes. Customer outputs follow Equinix Metal's IP reservation/assignment objects;
staff outputs describe a block of the tree. Inputs are separate and only validate."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.ipam.models import Block, Kind
from apps.ipam.selectors import Utilisation

BASE = "/metal/v1"
STAFF = "/api/ipam"


def ip_type(block: Block) -> str:
    if block.family == 6:
        return "public_ipv6" if block.public else "private_ipv6"
    return "public_ipv4" if block.public else "private_ipv4"


def customer_ip(block: Block) -> dict[str, Any]:
    """An IP reservation or assignment as the Equinix Metal API shows it (plus released_at, history)."""
    net = block.ip_network
    data: dict[str, Any] = {
        "id": str(block.pk),
        "address_family": block.family,
        "netmask": str(net.netmask),
        "public": block.public,
        "cidr": block.prefix_length,
        "network": str(net.network_address),
        "address": block.address,
        "gateway": block.gateway,
        "type": ip_type(block),
        "management": block.server_id is not None,
        "manageable": block.kind == Kind.RESERVATION,
        "enabled": block.is_active,
        "created_at": block.assigned_at,
        "released_at": block.released_at,
        "details": block.description,
        "project": {"id": str(block.project_id), "href": f"{BASE}/projects/{block.project_id}"} if block.project_id else None,
        "href": f"{BASE}/ips/{block.pk}",
    }
    if block.kind == Kind.RESERVATION:
        data["addon"] = True
        data["state"] = "created" if block.is_active else "deleted"
    else:
        data["assigned_to"] = ({"id": str(block.device_id), "hostname": block.device_label, "href": f"{BASE}/devices/{block.device_id}"}
                               if block.device_id else None)
        data["parent_block"] = {"network": block.parent.network if block.parent_id else None, "href": f"{BASE}/ips/{block.parent_id}"}
    return data


def staff_block(block: Block) -> dict[str, Any]:
    return {
        "id": block.pk,
        "network": block.network,
        "family": block.family,
        "prefix_length": block.prefix_length,
        "kind": block.kind,
        "public": block.public,
        "parent": block.parent_id,
        "facility": block.facility.code if block.facility_id else None,
        "metro": block.metro.code if block.metro_id else None,
        "project": str(block.project_id) if block.project_id else None,
        "server": str(block.server_id) if block.server_id else None,
        "device_id": str(block.device_id) if block.device_id else None,
        "device_label": block.device_label,
        "gateway": block.gateway,
        "address": block.address if block.kind == Kind.ASSIGNMENT else None,
        "description": block.description,
        "assigned_at": block.assigned_at,
        "released_at": block.released_at,
        "href": f"{STAFF}/blocks/{block.pk}",
    }


def utilisation(block: Block, use: Utilisation) -> dict[str, Any]:
    return {"network": block.network, "total": use.total, "allocated": use.allocated, "assigned": use.assigned, "free": use.free,
            "allocated_percent": round(use.allocated_percent, 3), "assigned_percent": round(use.assigned_percent, 3),
            "children": use.children}


class BlockOut(serializers.BaseSerializer):
    def to_representation(self, block: Block) -> dict[str, Any]:
        return staff_block(block)


class CustomerIPOut(serializers.BaseSerializer):
    def to_representation(self, block: Block) -> dict[str, Any]:
        return customer_ip(block)


class BlockCreateIn(serializers.Serializer):
    network = serializers.CharField()
    kind = serializers.ChoiceField(choices=[Kind.SUPERNET, Kind.POOL])
    parent = serializers.IntegerField(required=False, allow_null=True)
    facility = serializers.CharField(required=False, allow_blank=True, help_text="Facility code (pools)")
    metro = serializers.CharField(required=False, allow_blank=True, help_text="Metro code (pools)")
    public = serializers.BooleanField(required=False, allow_null=True, default=None)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class BlockUpdateIn(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    public = serializers.BooleanField(required=False)


class AllocateIn(serializers.Serializer):
    prefix_length = serializers.IntegerField(min_value=0, max_value=128)
    kind = serializers.ChoiceField(choices=[Kind.RESERVATION, Kind.ASSIGNMENT], default=Kind.ASSIGNMENT)
    project = serializers.UUIDField(required=False, allow_null=True)
    device_id = serializers.UUIDField(required=False, allow_null=True)
    device_label = serializers.CharField(required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ReleaseIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ReservationIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=["public_ipv4", "private_ipv4", "public_ipv6"])
    quantity = serializers.IntegerField(required=False, min_value=1)
    cidr = serializers.IntegerField(required=False, min_value=0, max_value=128, help_text="Prefix length instead of quantity")
    facility = serializers.CharField(required=False, allow_blank=True)
    metro = serializers.CharField(required=False, allow_blank=True)
    comments = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("facility") and not attrs.get("metro"):
            raise serializers.ValidationError({"metro": "Say where: a metro or facility code."})
        if attrs.get("quantity") is None and attrs.get("cidr") is None:
            raise serializers.ValidationError({"quantity": "Say how many addresses (quantity) or which prefix length (cidr)."})
        return attrs


class AssignIn(serializers.Serializer):
    address = serializers.CharField(required=False, allow_blank=True, help_text="An exact address or CIDR inside the reservation")
    cidr = serializers.IntegerField(required=False, min_value=0, max_value=128, help_text="Or: the first free block of this prefix length")
    device_id = serializers.UUIDField(required=False, allow_null=True)
    device_label = serializers.CharField(required=False, allow_blank=True, default="")
