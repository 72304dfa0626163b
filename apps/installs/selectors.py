"""Reads of the installs app: the devices a customer may see, an install's timeline with the time
each step took and its percentage, and the metadata document an installing machine reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from apps.accounts.selectors import visible_projects
from apps.installs.models import EVENT_TYPES, Device, DeviceState, Install, InstallEvent
from apps.ipam.selectors import server_addresses
from apps.network.devices import DeviceRef
from project.timestamps import metal_time


def visible_devices(user: Any, token: Any = None) -> QuerySet[Device]:
    return (Device.objects.filter(project__in=visible_projects(user, token).values("pk"))
            .exclude(state="deleted")
            .select_related("project", "plan", "facility", "metro", "operating_system", "server"))


def customer_device_ref(user: Any, token: Any, device_id: Any) -> DeviceRef | None:
    """The network app's view of a caller's live device (registered in InstallsConfig.ready)."""
    device = visible_devices(user, token).filter(pk=device_id).first()
    if device is None:
        return None
    return DeviceRef(id=device.pk, project=device.project, server=device.server, hostname=device.hostname, state=device.state)


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    body: str
    source: str
    at: Any
    seconds_since_start: float
    took: float  # seconds since the previous event: how long this step took


def install_timeline(install: Install, events: list[InstallEvent] | None = None) -> list[TimelineEntry]:
    events = events if events is not None else list(install.events.all())
    start = install.created_at
    entries: list[TimelineEntry] = []
    previous = start
    for event in events:
        entries.append(TimelineEntry(event.type, event.body, event.source, event.created_at,
                                     (event.created_at - start).total_seconds(), (event.created_at - previous).total_seconds()))
        previous = event.created_at
    return entries


def install_percentage(install: Install, events: list[InstallEvent] | None = None) -> int:
    if install.state == "succeeded" and install.kind in ("provision", "reinstall"):
        return 100
    events = events if events is not None else list(install.events.all())
    return max((EVENT_TYPES.get(e.type, ("", 0))[1] for e in events), default=0)


def device_current_install(device: Device) -> Install | None:
    return device.installs.order_by("-created_at").first()


def provisioning_events(install: Install | None, events: list[InstallEvent] | None = None) -> list[dict[str, Any]]:
    """The Equinix Metal `provisioning_events` list (each with id, type, body, created_at, took)."""
    if install is None:
        return []
    return [{"id": f"{install.pk}-{i}", "type": e.type, "body": e.body, "state": "info" if e.type != "provisioning.failed" else "failed",
             "created_at": metal_time(e.at), "took_seconds": round(e.took, 3)}
            for i, e in enumerate(install_timeline(install, events))]


def _absolute(url: str, base_url: str) -> str:
    return f"{base_url}{url}" if url.startswith("/") else url


def device_metadata(*, install: Install, base_url: str, for_installer: bool = False) -> dict[str, Any]:
    """What the installer (and later cloud-init) reads: the Equinix Metal metadata fields plus the
    image to install. `base_url` is the platform as this machine reaches it. For the installer of a
    provision or reinstall it adds `first_boot`: where and with which secret (the first-boot phase's
    own) the installed system phones home — the installer leaves it on the disk, as a real one
    configures cloud-init's phone_home."""
    device, server = install.device, install.server
    api = f"{base_url}/machine/{install.pk}"
    doc: dict[str, Any] = {
        "id": str(device.pk) if device else None,
        "install_id": str(install.pk),
        "mode": "wipe" if install.kind == "deprovision" else install.kind,
        "phone_home_url": f"{api}/phone-home",
        "user_state_url": f"{api}/events",
        "userdata_url": f"{api}/userdata",
        "facility": server.facility.code if server else None,
        "metro": server.facility.metro.code if server else None,
        "serial": server.serial if server else None,
    }
    if for_installer and install.kind in ("provision", "reinstall"):
        doc["first_boot"] = {"phone_home_url": f"{api}/phone-home", "secret": install.first_boot_secret}
    if install.kind == "reinstall":
        doc["reinstall"] = {"preserve_data": install.preserve_data, "deprovision_fast": install.deprovision_fast}
    if device is not None:
        os_ = install.operating_system or device.operating_system
        doc.update({
            "hostname": device.hostname,
            "plan": device.plan.slug,
            "class": device.plan.slug,
            "tags": device.tags,
            "ssh_keys": device.ssh_keys,
            "operating_system": {
                "slug": os_.slug, "distro": os_.distro, "version": os_.version,
                "image_url": _absolute(os_.image_url, base_url), "image_sha256": os_.image_sha256, "image_size": os_.image_size,
            },
        })
    addresses = []
    if server is not None:
        for item in server_addresses(server):
            addresses.append(_address_doc(item))
        doc["network"] = {
            "interfaces": [{"name": nic.name, "mac": nic.mac} for nic in server.interfaces.all()],
            "addresses": addresses,
        }
    return doc


def _address_doc(item: Any) -> dict[str, Any]:
    import netaddr

    network = netaddr.IPNetwork(str(item.network))
    return {
        "address_family": network.version,
        "public": bool(item.public),
        "management": True,
        "address": str(item.address),
        "gateway": str(item.gateway),
        "network": str(network.network),
        "netmask": str(network.netmask),
        "cidr": network.prefixlen,
    }


def project_live_device_hostname(device_id: Any, project: Any) -> str | None:
    """The hostname of `project`'s device `device_id` unless it is deleted (None for anything else)."""
    return (Device.objects.filter(pk=device_id, project=project).exclude(state=DeviceState.DELETED)
            .values_list("hostname", flat=True).first())


def live_devices_count(project_ids: Any) -> int:
    """Quota usage: the devices of these projects that are not deleted (queued orders included)."""
    return Device.objects.filter(project_id__in=project_ids).exclude(state=DeviceState.DELETED).count()


def order_facility(*, plan: Any, facility_codes: list[str], metro: Any = None) -> Any | None:
    """Where an order may land when the customer names facilities: the first of `facility_codes`
    (in the customer's order of preference; "any" means every facility, fullest pool first) that has
    a `ready` server of `plan`; else the first named facility that exists (device_create then says it
    has no server), or None."""
    from django.db.models import Count, Q

    from apps.facilities.models import Facility

    facilities = Facility.objects.select_related("metro").annotate(
        ready=Count("servers", filter=Q(servers__plan=plan, servers__state="ready")))
    if metro is not None:
        facilities = facilities.filter(metro=metro)
    # Codes are stored lower-case (the facilities app validates them), so lower-casing the input is
    # the case-insensitive match the real service does.
    codes = [c.lower() for c in facility_codes]
    by_code = {f.code: f for f in facilities.filter(code__in=codes)}
    for code in codes:
        if code == "any":
            best = facilities.filter(ready__gt=0).order_by("-ready", "code").first()
            if best is not None:
                return best
            continue
        facility = by_code.get(code)
        if facility is not None and facility.ready > 0:
            return facility
    # None has a server now: the first named one, so that device_create says which and why.
    return next((by_code[c] for c in codes if c in by_code), None)
