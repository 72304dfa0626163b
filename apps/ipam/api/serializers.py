"""IPAM API shapes. Customer outputs follow Equinix Metal's IP reservation/assignment objects;
staff outputs describe a block of the tree. Inputs are separate and only validate."""
from __future__ import annotations

import functools
import ipaddress
from typing import Any

from rest_framework import serializers

from apps.ipam.models import Block, Kind
from apps.ipam.selectors import Utilisation
from project.public_ids import public_id

BASE = "/metal/v1"
STAFF = "/api/ipam"


def ip_type(block: Block) -> str:
    if block.family == 6:
        return "public_ipv6" if block.public else "private_ipv6"
    return "public_ipv4" if block.public else "private_ipv4"


def ip_href(block_id: int) -> str:
    return f"{BASE}/ips/{public_id('ip', block_id)}"


def _place(block: Block) -> dict[str, Any]:
    """Where a block lives, as the real service nests it: facility (with its metro) and metro."""
    # A reservation carved from a pool lives where the pool is.
    source = block if (block.facility_id or block.metro_id or not block.parent_id) else block.parent
    facility = source.facility if source.facility_id else None
    metro = source.metro if source.metro_id else (facility.metro if facility is not None else None)
    out: dict[str, Any] = {}
    if metro is not None:
        out["metro"] = {"id": public_id("metro", metro.pk), "code": metro.code, "name": metro.name, "country": metro.country,
                        "href": f"{BASE}/locations/metros/{public_id('metro', metro.pk)}"}
    if facility is not None:
        out["facility"] = {"id": public_id("facility", facility.pk), "code": facility.code, "name": facility.name,
                           "href": f"{BASE}/facilities/{public_id('facility', facility.pk)}"}
    return out


_ADDRESS = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}


@functools.lru_cache(maxsize=256)
def ip_netmask(family: int, prefix_length: int) -> str:
    network = ipaddress.IPv4Network((0, prefix_length)) if family == 4 else ipaddress.IPv6Network((0, prefix_length))
    return str(network.netmask)


def _network_address(block: Block) -> str:
    """The block's first address from its integer column: no parse of the CIDR text (a device page shows hundreds)."""
    return str(_ADDRESS[block.family](block.first))


def customer_ip(block: Block, *, assignments: list[Block] | None = None) -> dict[str, Any]:
    """An IP reservation or assignment as the Equinix Metal API shows it (plus released_at, history)."""
    network = _network_address(block)
    # The device's own address (Block.address) without parsing the network.
    address = str(_ADDRESS[block.family](int(ipaddress.ip_address(block.gateway)) + 1)) if block.gateway else network
    project = {"id": str(block.project_id), "href": f"{BASE}/projects/{block.project_id}"} if block.project_id else None
    data: dict[str, Any] = {
        "id": public_id("ip", block.pk),
        "address_family": block.family,
        "netmask": ip_netmask(block.family, block.prefix_length),
        "public": block.public,
        "cidr": block.prefix_length,
        "network": network,
        "address": address,
        "gateway": block.gateway,
        "type": ip_type(block),
        "management": block.server_id is not None,
        "manageable": block.kind == Kind.RESERVATION or block.server_id is None,
        "enabled": block.is_active,
        "global_ip": False,
        "created_at": block.assigned_at,
        "released_at": block.released_at,
        "details": block.description,
        "tags": list(block.tags),
        "customdata": block.customdata,
        "project": project,
        "project_lite": project,
        "href": ip_href(block.pk),
    }
    if block.kind == Kind.RESERVATION:
        data.update(_place(block))
        data["addon"] = True
        data["bill"] = False
        data["state"] = "created" if block.is_active else "deleted"
        data["available"] = f"{BASE}/ips/{public_id('ip', block.pk)}/available"
        if assignments is not None:
            data["assignments"] = [customer_ip(a) for a in assignments]
    else:
        data["assigned_to"] = ({"id": str(block.device_id), "hostname": block.device_label, "href": f"{BASE}/devices/{block.device_id}"}
                               if block.device_id else {"href": ""})
        parent = block.parent if block.parent_id else None
        data["parent_block"] = ({"network": _network_address(parent), "cidr": parent.prefix_length,
                                 "netmask": ip_netmask(parent.family, parent.prefix_length), "href": ip_href(parent.pk)}
                                if parent is not None else None)
        if parent is not None and parent.kind == Kind.POOL:
            data["parent_block"]["href"] = ""  # a pool is staff space, not an object the customer can read
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
    """What packet-python, packngo/Terraform and the spec send; nulls where they send nulls."""

    type = serializers.ChoiceField(choices=["public_ipv4", "private_ipv4", "public_ipv6"])
    quantity = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    cidr = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=128, help_text="Prefix length instead of quantity")
    facility = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    metro = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    details = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    comments = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, allow_null=True)
    customdata = serializers.JSONField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("facility") and not attrs.get("metro"):
            raise serializers.ValidationError({"metro": "Say where: a metro or facility code."})
        if attrs.get("quantity") is None and attrs.get("cidr") is None:
            raise serializers.ValidationError({"quantity": "Say how many addresses (quantity) or which prefix length (cidr)."})
        if attrs.get("customdata") is not None and not isinstance(attrs["customdata"], dict):
            raise serializers.ValidationError({"customdata": "customdata is a JSON object."})
        return attrs


class ReservationUpdateIn(serializers.Serializer):
    details = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, allow_null=True)
    customdata = serializers.JSONField(required=False, allow_null=True)


class DeviceIPIn(serializers.Serializer):
    """POST /devices/{id}/ips: an address or CIDR inside one of the project's reservations."""

    address = serializers.CharField()
    manageable = serializers.BooleanField(required=False, allow_null=True)
    customdata = serializers.JSONField(required=False, allow_null=True)


class AssignIn(serializers.Serializer):
    address = serializers.CharField(required=False, allow_blank=True, help_text="An exact address or CIDR inside the reservation")
    cidr = serializers.IntegerField(required=False, min_value=0, max_value=128, help_text="Or: the first free block of this prefix length")
    device_id = serializers.UUIDField(required=False, allow_null=True)
    device_label = serializers.CharField(required=False, allow_blank=True, default="")
