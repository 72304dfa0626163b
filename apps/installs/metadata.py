"""The metadata service, for a device's whole life (not only while an install is open), on the
provisioning listener: the Equinix Metal document (`/metadata` JSON, `/userdata`) and the EC2 tree
cloud-init's EC2 datasource reads (`/2009-04-04/meta-data/…`, `/latest/meta-data/…`, `…/user-data`).

No id in the URL and no secret: the device is the one at the caller's address — its NIC's
provisioning reservation while it installs, an address the platform assigned to it once it runs (or
the address a trusted proxy forwards, apps.installs.provisioning). Read-only (GET) and rate-limited
per caller address (METALYARD_METADATA_RATE_PER_MINUTE); anybody else gets 404."""
from __future__ import annotations

from typing import Any

import netaddr
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.accounts import throttling
from apps.installs import provisioning

EC2_VERSIONS = ("2009-04-04", "latest")


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"errors": [message]}, status=status)


def _rate_limited(address: str) -> int | None:
    """Seconds to wait when `address` has used its metadata calls of this minute, else None."""
    return throttling.throttle_hit("metadata", address, throttling.Rate(settings.METADATA_RATE_PER_MINUTE, 60))


def device_service(view: Any) -> Any:
    """Find the device at the caller's address (404 if none), after the per-address rate limit."""

    @require_GET
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        address = provisioning.client_address(request)
        if address is None:
            return _error(404, "no device at this address")
        wait = _rate_limited(address)
        if wait is not None:
            response = _error(429, f"more than {settings.METADATA_RATE_PER_MINUTE} metadata calls a minute from {address}")
            response["Retry-After"] = str(wait)
            return response
        device = provisioning.device_at(address)
        if device is None:
            return _error(404, "no device at this address")
        return view(request, device, **kwargs)

    return wrapper


def _addresses(device: Any) -> list[dict[str, Any]]:
    from apps.ipam.selectors import server_addresses

    found = []
    for item in server_addresses(device.server) if device.server_id else []:
        network = netaddr.IPNetwork(str(item.network))
        found.append({"address_family": network.version, "public": bool(item.public), "management": True,
                      "address": str(item.address), "gateway": str(item.gateway), "network": str(network.network),
                      "netmask": str(network.netmask), "cidr": network.prefixlen})
    return found


def metadata_document(device: Any) -> dict[str, Any]:
    """The Equinix Metal metadata document of a device (no secrets, no install internals)."""
    server = device.server
    return {
        "id": str(device.pk),
        "hostname": device.hostname,
        "plan": device.plan.slug,
        "class": device.plan.slug,
        "facility": server.facility.code if server else None,
        "metro": server.facility.metro.code if server else None,
        "tags": device.tags,
        "ssh_keys": device.ssh_keys,
        "operating_system": {"slug": device.operating_system.slug, "distro": device.operating_system.distro,
                             "version": device.operating_system.version},
        "network": {"interfaces": [{"name": nic.name, "mac": nic.mac} for nic in server.interfaces.all()] if server else [],
                    "addresses": _addresses(device)},
    }


@device_service
def metadata(request: HttpRequest, device: Any) -> HttpResponse:
    return JsonResponse(metadata_document(device))


@device_service
def userdata(request: HttpRequest, device: Any) -> HttpResponse:
    return _text(device.userdata)


def ec2_tree(device: Any) -> dict[str, Any]:
    """The EC2 meta-data tree: leaves are strings; `public-keys` is a list (EC2's numbered layout)."""
    addresses = _addresses(device)
    public4 = next((a["address"] for a in addresses if a["address_family"] == 4 and a["public"]), "")
    private4 = next((a["address"] for a in addresses if a["address_family"] == 4 and not a["public"]), "")
    server = device.server
    return {
        "ami-id": device.operating_system.slug,
        "hostname": device.hostname,
        "instance-id": str(device.pk),
        "instance-type": device.plan.slug,
        "local-hostname": device.hostname,
        "local-ipv4": private4,
        "public-ipv4": public4,
        "placement": {"availability-zone": server.facility.code if server else "",
                      "region": server.facility.metro.code if server else ""},
        "public-keys": list(device.ssh_keys),
    }


def _ec2_answer(tree: dict[str, Any], path: str) -> str | None:
    """The EC2 answer for `path` under meta-data/: a listing (directories end with '/') or a leaf."""
    parts = [p for p in path.split("/") if p]
    node: Any = tree
    for index, part in enumerate(parts):
        if isinstance(node, list):  # public-keys: N/ then N/openssh-key
            if not part.isdigit() or int(part) >= len(node):
                return None
            rest = parts[index + 1:]
            if not rest:
                return "openssh-key"
            return node[int(part)] if rest == ["openssh-key"] else None
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        return "\n".join(f"{key}/" if isinstance(value, dict | list) else key for key, value in node.items())
    if isinstance(node, list):
        return "\n".join(f"{i}=key-{i}" for i in range(len(node)))
    return str(node)


@device_service
def ec2_meta_data(request: HttpRequest, device: Any, version: str, path: str) -> HttpResponse:
    answer = _ec2_answer(ec2_tree(device), path)
    if answer is None:
        return _error(404, f"no meta-data at {path!r}")
    return _text(answer)


@device_service
def ec2_user_data(request: HttpRequest, device: Any, version: str) -> HttpResponse:
    if not device.userdata:
        return _error(404, "this device has no user-data")  # as EC2: cloud-init takes 404 for none
    return _text(device.userdata)


@device_service
def ec2_index(request: HttpRequest, device: Any, version: str) -> HttpResponse:
    return _text("meta-data/\nuser-data" if device.userdata else "meta-data/")
