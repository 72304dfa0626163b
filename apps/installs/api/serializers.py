"""Devices in Equinix Metal v1 shapes (input and output kept apart).

A page of devices is rendered from a `DevicePage`, which reads everything the page needs in a fixed
number of queries (current runs and their events, addresses, cabled ports), whatever `per_page` is."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from rest_framework import serializers

from apps.facilities.models import Facility, Metro
from apps.hardware.api.catalog import facility_href, metro_href, plan_href
from apps.hardware.models import NetworkInterface, Plan, Server
from apps.installs import actions
from apps.installs.models import Device, Install, InstallEvent, OperatingSystem
from apps.installs.selectors import install_percentage, provisioning_events
from apps.ipam.api.serializers import customer_ip
from apps.ipam.models import Assignment, Block
from apps.network.api.layer2_serializers import device_ports, network_type
from project.public_ids import public_id
from project.timestamps import metal_time

BASE = "/metal/v1"


def os_href(os_id: int) -> str:
    return f"{BASE}/operating-systems/{public_id('operating_system', os_id)}"


def os_repr(os_: OperatingSystem) -> dict[str, Any]:
    return {
        "id": public_id("operating_system", os_.pk), "slug": os_.slug, "name": os_.name, "distro": os_.distro,
        "distro_label": os_.distro.capitalize(), "version": os_.version, "preinstallable": False, "licensed": False,
        "pricing": {}, "provisionable_on": [plan.slug for plan in os_.plans.all()], "href": os_href(os_.pk),
    }


class PageEvent(NamedTuple):
    """An install event as a device page shows it: the fields the timeline reads, without a model instance each
    (a page of 100 devices has over a thousand events)."""

    install_id: Any
    type: str
    body: str
    source: str
    created_at: Any


@dataclass
class DevicePage:
    """What the devices of one page need, read in bulk: a fixed number of queries whatever the page's size."""

    installs: dict[Any, Install] = field(default_factory=dict)
    events: dict[Any, list[PageEvent]] = field(default_factory=dict)
    addresses: dict[Any, list[Any]] = field(default_factory=dict)
    ports: dict[Any, list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, devices: Iterable[Device]) -> DevicePage:
        devices = list(devices)
        page = cls()
        ids = [d.pk for d in devices]
        if not ids:
            return page
        _attach_catalog(devices)
        # The newest run of each device (DISTINCT ON on PostgreSQL; a sort elsewhere).
        # Only what the output shows: the run's secret (encrypted) is never read, so never decrypted.
        for install in (Install.objects.filter(device_id__in=ids).only("id", "device_id", "kind", "state", "created_at")
                        .order_by("device_id", "-created_at")):
            page.installs.setdefault(install.device_id, install)
        for event in (InstallEvent.objects.filter(install_id__in=[i.pk for i in page.installs.values()]).order_by("created_at", "id")
                      .values_list("install_id", "type", "body", "source", "created_at")):
            page.events.setdefault(event[0], []).append(PageEvent(*event))
        # An address's parent (a pool or a reservation) is shared by many: read each once, not joined per row.
        # Newest first (the id breaks ties), then grouped by family and public first: the order the lean view uses too.
        blocks = list(Assignment.objects.active().filter(device_id__in=ids).order_by("-assigned_at", "-id"))
        parents = Block.objects.in_bulk({b.parent_id for b in blocks if b.parent_id})
        grouped: dict[Any, list[Any]] = defaultdict(list)
        for block in blocks:
            if block.parent_id:
                block.parent = parents[block.parent_id]
            grouped[block.device_id].append(block)
        page.addresses = {k: sorted(v, key=lambda a: (a.family, not a.public)) for k, v in grouped.items()}
        page.ports = ports_by_device({d.server_id: d.pk for d in devices if d.server_id})
        return page


def ports_by_device(servers: dict[Any, Any]) -> dict[Any, list[Any]]:
    """The NICs (with their cables, switch ports and Layer 2 state) of the servers {server id: device id}, by device:
    a fixed number of queries, none when no device of the page is on a server yet."""
    ports: dict[Any, list[Any]] = {}
    if not servers:
        return ports
    for nic in (NetworkInterface.objects.filter(server_id__in=list(servers))
                .select_related("cable__port__switch", "port_layer__native_vlan__metro").prefetch_related("port_layer__virtual_networks__metro")
                .order_by("server_id", "name")):
        ports.setdefault(servers[nic.server_id], []).append(nic)
    return ports


def _attach(devices: list[Device], name: str, rows: Callable[[set[Any]], dict[Any, Any]]) -> None:
    """Set relation `name` on the devices that do not carry it yet, from one bulk read of the distinct keys."""
    relation = Device._meta.get_field(name)
    wanted = [d for d in devices if getattr(d, relation.attname) is not None and not relation.is_cached(d)]
    if wanted:
        found = rows({getattr(d, relation.attname) for d in wanted})
        for device in wanted:
            setattr(device, name, found[getattr(device, relation.attname)])


def _attach_catalog(devices: list[Device]) -> None:
    """The catalog rows a page shows (plans, operating systems, facilities, metros, the servers' facilities) are
    shared by many devices: read each once in a few small queries rather than joined into every device's row."""
    _attach(devices, "plan", Plan.objects.in_bulk)
    _attach(devices, "operating_system", OperatingSystem.objects.in_bulk)
    _attach(devices, "metro", Metro.objects.in_bulk)
    _attach(devices, "server", Server.objects.only("id", "facility_id").in_bulk)
    servers = [d.server for d in devices if d.server_id]
    facility_ids = {d.facility_id for d in devices if d.facility_id and not Device.facility.is_cached(d)}
    facility_ids |= {s.facility_id for s in servers if not Server.facility.is_cached(s)}
    facilities = Facility.objects.select_related("metro").in_bulk(facility_ids) if facility_ids else {}
    _attach(devices, "facility", lambda keys: facilities)
    for server in servers:
        if not Server.facility.is_cached(server):
            server.facility = facilities[server.facility_id]


def network_ports(nics: list[Any]) -> list[dict[str, Any]]:
    """A device's ports as the real service shapes them: `bond0` with the device's composite `network_type`
    (layer3, hybrid, layer2-bonded, layer2-individual: packngo and Terraform's `network_type` read it from the
    ports' `bonded` flags and the management addresses), then each NIC cabled to a switch port with its own type,
    VLANs and native VLAN (the network app's Layer 2 state)."""
    return device_ports(nics)


def layer2_device(nics: list[Any]) -> bool:
    """bond0 is in Layer 2: the device's addresses are off the wire (kept in IPAM for the way back to Layer 3), and
    the real service shows none — packngo tells layer2-bonded from layer3 by exactly that."""
    return bool(nics) and network_type([getattr(nic, "port_layer", None) for nic in nics]).startswith("layer2")


def sos_address(device: Device, facility: Any) -> str | None:
    """The serial console over SSH, as the real service shapes it: `<device id>@sos.<facility>.<domain>`."""
    if facility is None:
        return None
    return f"{device.pk}@sos.{facility.code}.{settings.SOS_DOMAIN}"


def device_repr(device: Device, page: DevicePage) -> dict[str, Any]:
    install = page.installs.get(device.pk)
    events = page.events.get(install.pk, []) if install else []
    landed = device.server.facility if device.server_id else device.facility
    metro = device.metro if device.metro_id else (landed.metro if landed else None)
    os_ = device.operating_system
    project = {"id": str(device.project_id), "href": f"{BASE}/projects/{device.project_id}"}
    data: dict[str, Any] = {
        "id": str(device.pk),
        "short_id": str(device.pk)[:8],
        "hostname": device.hostname,
        "description": device.description,
        "state": device.state,
        "tags": list(device.tags),
        "userdata": device.userdata,
        "customdata": device.customdata,
        "billing_cycle": device.billing_cycle,
        "locked": device.locked,
        "always_pxe": device.always_pxe,
        "ipxe_script_url": device.ipxe_script_url or None,
        "sos": sos_address(device, landed),
        "spot_instance": device.spot_instance,
        "spot_price_max": float(device.spot_price_max) if device.spot_price_max is not None else None,
        "termination_time": metal_time(device.termination_time),
        "network_frozen": False,
        "created_at": metal_time(device.created_at),
        "updated_at": metal_time(device.updated_at),
        "plan": {"id": public_id("plan", device.plan_id), "slug": device.plan.slug, "name": device.plan.name, "class": device.plan.slug,
                 "line": device.plan.line, "href": plan_href(device.plan_id)},
        "facility": ({"id": public_id("facility", landed.pk), "code": landed.code, "name": landed.name, "features": landed.features,
                      "href": facility_href(landed.pk)} if landed else None),
        "metro": ({"id": public_id("metro", metro.pk), "code": metro.code, "name": metro.name, "country": metro.country,
                   "href": metro_href(metro.pk)} if metro else None),
        "operating_system": {"id": public_id("operating_system", os_.pk), "slug": os_.slug, "name": os_.name, "distro": os_.distro,
                             "version": os_.version, "href": os_href(os_.pk)},
        "ip_addresses": ([] if layer2_device(page.ports.get(device.pk, [])) else
                         [customer_ip(block) for block in page.addresses.get(device.pk, [])]),
        "network_ports": network_ports(page.ports.get(device.pk, [])),
        "ssh_keys": [],
        "project": project,
        "project_lite": project,
        "hardware_reservation": ({"href": f"{BASE}/hardware-reservations/{device.hardware_reservation_id}"}
                                 if device.hardware_reservation_id else None),
        "created_by": {"href": f"{BASE}/users/{public_id('user', device.created_by_id)}"} if device.created_by_id else None,
        "actions": [],
        "href": f"{BASE}/devices/{device.pk}",
        "provisioning_percentage": install_percentage(install, events) if install else 0,
        "provisioning_events": provisioning_events(install, events),
    }
    if device.state == "failed":
        data["failure_reason"] = device.failure_reason
    return data


class DeviceOut(serializers.BaseSerializer):
    """Renders devices with a `DevicePage` given in the context (one is loaded when absent)."""

    def to_representation(self, device: Device) -> dict[str, Any]:
        page = self.context.get("page") or DevicePage.load([device])
        return device_repr(device, page)


def customdata_object(value: Any) -> dict[str, Any]:
    """`customdata` is a JSON object; packngo (metal-cli's `--customdata '{…}'`, the Go tools built on it) sends it
    as a string holding one, which the real service took too. None or an empty string is none."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise serializers.ValidationError("customdata is a JSON object (or a string holding one).") from exc
    if value is not None and not isinstance(value, dict):
        raise serializers.ValidationError("customdata is a JSON object (or a string holding one).")
    return value or {}


class TagsField(serializers.Field):
    """Tags as a list of strings; `{}` or null (packet-python's default) mean none."""

    def to_internal_value(self, data: Any) -> list[str]:
        if data in (None, {}, ""):
            return []
        if not isinstance(data, list) or not all(isinstance(t, str) and len(t) <= 100 for t in data):
            raise serializers.ValidationError("Tags are a list of strings (each at most 100 characters).")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class FacilityField(serializers.Field):
    """`facility` as a code, a list of codes in order of preference, or "any" (the real service's three forms)."""

    def to_internal_value(self, data: Any) -> list[str]:
        if data in (None, ""):
            return []
        codes = [data] if isinstance(data, str) else data
        if not isinstance(codes, list) or not all(isinstance(c, str) and c.strip() for c in codes):
            raise serializers.ValidationError('A facility code, a list of facility codes, or "any".')
        return [c.strip().lower() for c in codes]

    def to_representation(self, value: Any) -> Any:
        return value


class SSHKeysField(serializers.Field):
    """`ssh_keys` as key texts or as the specification's objects ({"label", "key"})."""

    def to_internal_value(self, data: Any) -> list[str]:
        if data in (None, {}):
            return []
        if not isinstance(data, list):
            raise serializers.ValidationError("A list of public keys or {label, key} objects.")
        keys = []
        for item in data:
            text = item.get("key") if isinstance(item, dict) else item
            if not isinstance(text, str) or not text.strip():
                raise serializers.ValidationError("Each SSH key is a public key line or an object with a 'key'.")
            keys.append(text)
        return keys

    def to_representation(self, value: Any) -> Any:
        return value


def _ids() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), required=False, allow_null=True, default=list)


class DeviceIn(serializers.Serializer):
    """What the clients send to order a device. Unknown fields are ignored, null is accepted where
    the clients send it; fields the platform has no feature for yet (spot, storage …) are ignored."""

    hostname = serializers.CharField(max_length=253, required=False, allow_null=True, allow_blank=True)
    plan = serializers.CharField(required=False, allow_null=True)
    operating_system = serializers.CharField()
    facility = FacilityField(required=False, allow_null=True)
    metro = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    userdata = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    customdata = serializers.JSONField(required=False, allow_null=True)
    tags = TagsField(required=False, allow_null=True)
    locked = serializers.BooleanField(required=False, allow_null=True)
    billing_cycle = serializers.ChoiceField(choices=["hourly", "daily", "monthly", "yearly"], required=False, allow_null=True,
                                            allow_blank=True)
    public_ipv4_subnet_size = serializers.IntegerField(required=False, allow_null=True, min_value=28, max_value=31)
    ssh_keys = SSHKeysField(required=False, allow_null=True)
    project_ssh_keys = _ids()
    user_ssh_keys = _ids()
    no_ssh_keys = serializers.BooleanField(required=False, allow_null=True)
    ip_addresses = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    spot_instance = serializers.BooleanField(required=False, allow_null=True, default=False)
    spot_price_max = serializers.DecimalField(max_digits=10, decimal_places=4, required=False, allow_null=True, default=None,
                                              help_text="Spot: the highest hourly price (the bid); more than zero.")
    hardware_reservation_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="",
                                                    help_text="Deploy on a reservation of the project: its UUID or 'next-available'.")
    ipxe_script_url = serializers.URLField(required=False, allow_blank=True, allow_null=True, max_length=500,
                                           help_text="custom_ipxe: the iPXE script the machine boots (http or https).")
    always_pxe = serializers.BooleanField(required=False, allow_null=True, default=False)

    def validate_customdata(self, value: Any) -> dict[str, Any]:
        return customdata_object(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # On a reservation by id, the reserved server says the plan and the place.
        by_id = (attrs.get("hardware_reservation_id") or "") not in ("", "next-available")
        if not by_id and not attrs.get("facility") and not attrs.get("metro"):
            raise serializers.ValidationError({"facility": "Give a facility code (or a list, or \"any\") or a metro code."})
        if not by_id and not attrs.get("plan"):
            raise serializers.ValidationError({"plan": "This field is required."})
        if attrs.get("spot_instance") and attrs.get("spot_price_max") is None:
            raise serializers.ValidationError({"spot_price_max": "A spot instance needs a bid (spot_price_max)."})
        if attrs.get("spot_instance") and attrs.get("hardware_reservation_id"):
            raise serializers.ValidationError({"spot_instance": "A device on a hardware reservation is not a spot instance."})
        for request in attrs.get("ip_addresses") or []:
            if request.get("address_family") == 4 and request.get("public", True) and request.get("cidr"):
                attrs["public_ipv4_subnet_size"] = attrs.get("public_ipv4_subnet_size") or int(request["cidr"])
        return attrs


class DeviceUpdateIn(serializers.Serializer):
    hostname = serializers.CharField(max_length=253, required=False)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    userdata = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    customdata = serializers.JSONField(required=False, allow_null=True)
    tags = TagsField(required=False, allow_null=True)
    locked = serializers.BooleanField(required=False)
    billing_cycle = serializers.ChoiceField(choices=["hourly", "daily", "monthly", "yearly"], required=False)
    ipxe_script_url = serializers.URLField(required=False, allow_blank=True, allow_null=True, max_length=500)
    always_pxe = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("description", "userdata", "ipxe_script_url"):
            if name in attrs and attrs[name] is None:
                attrs[name] = ""
        if "customdata" in attrs:
            try:
                attrs["customdata"] = customdata_object(attrs["customdata"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"customdata": exc.detail}) from exc
        return attrs


class DeviceActionIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=actions.api_action_names())
    operating_system = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    preserve_data = serializers.BooleanField(required=False, allow_null=True, default=False,
                                             help_text="reinstall: keep the non-root partitions.")
    deprovision_fast = serializers.BooleanField(required=False, allow_null=True, default=False,
                                                help_text="reinstall: skip the full wipe of the disk.")
    ipxe_script_url = serializers.URLField(required=False, allow_null=True, allow_blank=True, max_length=500,
                                           help_text="reinstall into custom_ipxe: the iPXE script (packet-python sends it).")
