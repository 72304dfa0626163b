"""Devices and operating systems in Equinix Metal v1 shapes (input and output kept apart)."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.installs import actions
from apps.installs.models import Device, OperatingSystem
from apps.installs.selectors import device_current_install, install_percentage, provisioning_events


class OperatingSystemOut(serializers.ModelSerializer):
    provisionable_on = serializers.SerializerMethodField()

    class Meta:
        model = OperatingSystem
        fields = ["id", "slug", "name", "distro", "version", "provisionable_on"]

    def get_provisionable_on(self, os_: OperatingSystem) -> list[str]:
        return [plan.slug for plan in os_.plans.all()]


def _ip_addresses(device: Device) -> list[dict[str, Any]]:
    from apps.ipam.selectors import device_addresses

    out = []
    for block in device_addresses(device.pk):
        out.append({"id": str(block.pk), "address_family": block.family, "public": bool(block.public), "management": True,
                    "cidr": block.prefix_length, "network": str(block.network).split("/")[0], "netmask": block.netmask,
                    "address": block.address, "gateway": block.gateway, "created_at": block.assigned_at.isoformat()})
    return out


class DeviceOut(serializers.Serializer):
    def to_representation(self, device: Device) -> dict[str, Any]:
        install = device_current_install(device)
        events = list(install.events.all()) if install else []  # read once for the percentage and the timeline
        data: dict[str, Any] = {
            "id": str(device.pk),
            "short_id": str(device.pk)[:8],
            "hostname": device.hostname,
            "description": device.description,
            "state": device.state,
            "tags": device.tags,
            "userdata": device.userdata,
            "billing_cycle": "hourly",
            "locked": False,
            "created_at": device.created_at.isoformat(),
            "updated_at": device.updated_at.isoformat(),
            "plan": {"slug": device.plan.slug, "name": device.plan.name},
            "facility": {"code": device.facility.code, "name": device.facility.name} if device.facility_id else None,
            "metro": {"code": device.metro.code, "name": device.metro.name} if device.metro_id else None,
            "operating_system": {"slug": device.operating_system.slug, "name": device.operating_system.name,
                                 "distro": device.operating_system.distro, "version": device.operating_system.version},
            "ip_addresses": _ip_addresses(device),
            "project": {"href": f"/metal/v1/projects/{device.project_id}"},
            "href": f"/metal/v1/devices/{device.pk}",
            "spot_instance": device.spot_instance,
            "spot_price_max": float(device.spot_price_max) if device.spot_price_max is not None else None,
            "termination_time": device.termination_time.isoformat() if device.termination_time else None,
            "hardware_reservation": ({"href": f"/metal/v1/hardware-reservations/{device.hardware_reservation_id}"}
                                     if device.hardware_reservation_id else None),
            "provisioning_percentage": install_percentage(install, events) if install else 0,
            "provisioning_events": provisioning_events(install, events),
        }
        if device.state == "failed":
            data["failure_reason"] = device.failure_reason
        return data


class DeviceIn(serializers.Serializer):
    hostname = serializers.CharField(max_length=63)
    plan = serializers.CharField(required=False)
    operating_system = serializers.CharField()
    facility = serializers.CharField(required=False)
    metro = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    userdata = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    public_ipv4_subnet_size = serializers.IntegerField(required=False, default=31, min_value=28, max_value=31)
    ssh_keys = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                     help_text="Extra public keys; the project's keys are always added.")
    spot_instance = serializers.BooleanField(required=False, default=False)
    spot_price_max = serializers.DecimalField(max_digits=10, decimal_places=4, required=False, allow_null=True, default=None,
                                              help_text="Spot: the highest hourly price (the bid); more than zero.")
    hardware_reservation_id = serializers.CharField(required=False, allow_blank=True, default="",
                                                    help_text="Deploy on a reservation of the project: its UUID or 'next-available'.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # On a reservation by id, the reserved server says the plan and the place.
        by_id = attrs.get("hardware_reservation_id") not in ("", "next-available")
        if not by_id and not attrs.get("facility") and not attrs.get("metro"):
            raise serializers.ValidationError({"facility": "Give a facility code or a metro code."})
        if not by_id and not attrs.get("plan"):
            raise serializers.ValidationError({"plan": "This field is required."})
        if attrs.get("spot_instance") and attrs.get("spot_price_max") is None:
            raise serializers.ValidationError({"spot_price_max": "A spot instance needs a bid (spot_price_max)."})
        if attrs.get("spot_instance") and attrs.get("hardware_reservation_id"):
            raise serializers.ValidationError({"spot_instance": "A device on a hardware reservation is not a spot instance."})
        return attrs


class DeviceActionIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=actions.api_action_names())
    operating_system = serializers.CharField(required=False)
