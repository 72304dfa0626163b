"""The provisioning network: one reserved address per NIC (handed out by Metalyard's own DHCP
configuration, apps.installs.dhcp), and how the endpoints machines call recognise a machine by the
address its request comes from — as Tinkerbell's metadata service and OpenStack's metadata proxy do —
rather than by a MAC anyone can guess.

A relay or proxy in front of the provisioning listener is trusted only when its address is in
METALYARD_PROVISIONING_TRUSTED_PROXIES; then the client is the right-most address of X-Forwarded-For
that is not itself a trusted proxy."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import netaddr
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.accounts import throttling
from apps.audit.services import audit_record
from apps.installs.models import Install, ProvisioningNetwork, ProvisioningReservation
from project.listeners import on_provisioning_listener

FORWARDED_HEADER = "HTTP_X_FORWARDED_FOR"


# ---------------------------------------------------------------------------------------------- writes


def provisioning_network_set(*, facility: Any, network: str, gateway: str | None = None, actor: Any = None) -> ProvisioningNetwork:
    """Give a facility its provisioning network (or change it: reservations outside it are dropped
    and made again)."""
    try:
        cidr = netaddr.IPNetwork(network).cidr
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise ValidationError({"network": f"{network!r} is not a network in CIDR form."}) from exc
    if cidr.version != 4 or cidr.prefixlen > 29:
        raise ValidationError({"network": "The provisioning network is an IPv4 network of /29 or larger."})
    if gateway is not None and netaddr.IPAddress(gateway) not in cidr:
        raise ValidationError({"gateway": f"{gateway} is not in {cidr}."})
    with transaction.atomic():
        item, created = ProvisioningNetwork.objects.select_for_update().get_or_create(
            facility=facility, defaults={"network": str(cidr), "gateway": gateway})
        before = {"network": item.network, "gateway": item.gateway}
        if not created:
            item.network, item.gateway = str(cidr), gateway
            item.save(update_fields=["network", "gateway"])
            stale = [r.pk for r in item.reservations.all() if netaddr.IPAddress(r.address) not in cidr]
            ProvisioningReservation.objects.filter(pk__in=stale).delete()
        audit_record(action="installs.provisioning_network.set", target=item, actor=actor,
                     changes={k: [None if created else before[k], v] for k, v in (("network", str(cidr)), ("gateway", gateway))})
    return item


def provisioning_reserve(*, servers: Iterable[Any] | None = None, facility: Any = None) -> int:
    """Reserve an address for every NIC (of `servers`, or of `facility`'s servers) that has none yet,
    lowest free first (never the network, broadcast or gateway address). Returns how many were made."""
    from apps.hardware.models import NetworkInterface

    nics = NetworkInterface.objects.filter(provisioning_reservation__isnull=True).select_related("server")
    if servers is not None:
        nics = nics.filter(server__in=[getattr(s, "pk", s) for s in servers])
    if facility is not None:
        nics = nics.filter(server__facility=facility)
    by_facility: dict[Any, list[Any]] = {}
    for nic in nics.order_by("server__serial", "name"):
        by_facility.setdefault(nic.server.facility_id, []).append(nic)
    made = 0
    for facility_id, members in by_facility.items():
        with transaction.atomic():
            network = ProvisioningNetwork.objects.select_for_update().filter(facility_id=facility_id).first()
            if network is None:
                continue
            taken = set(network.reservations.values_list("address", flat=True))
            if network.gateway:
                taken.add(network.gateway)
            free = (str(a) for a in netaddr.IPNetwork(network.network).iter_hosts() if str(a) not in taken)
            for nic in members:
                if ProvisioningReservation.objects.filter(interface=nic).exists():
                    continue  # reserved meanwhile
                address = next(free, None)
                if address is None:
                    raise ValidationError({"network": f"the provisioning network {network.network} of {network.facility} is full"})
                ProvisioningReservation.objects.create(interface=nic, network=network, address=address)
                made += 1
    return made


# ---------------------------------------------------------------------------------------------- who is calling


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.PROVISIONING_TRUSTED_PROXIES]


def client_address(request: HttpRequest) -> str | None:
    """The machine's own address: REMOTE_ADDR, or behind a trusted relay/proxy the right-most
    X-Forwarded-For address that is not a trusted proxy itself. None when it cannot be told."""
    proxies = _trusted_proxies()

    def trusted(value: str) -> bool:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(address in network for network in proxies)

    remote = (request.META.get("REMOTE_ADDR") or "").strip()
    if not remote:
        return None
    if not trusted(remote):
        return _normal(remote)
    hops = [hop.strip() for hop in request.META.get(FORWARDED_HEADER, "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return _normal(hop)
    return None  # a trusted proxy that did not say for whom: nobody


def _normal(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def reservation_at(address: str | None) -> ProvisioningReservation | None:
    if address is None:
        return None
    return (ProvisioningReservation.objects.select_related("interface__server").filter(address=address).first())


def server_reserved_addresses(server: Any) -> set[str]:
    return set(ProvisioningReservation.objects.filter(interface__server=server).values_list("address", flat=True))


def device_own_addresses(install: Install) -> set[str]:
    """The addresses the platform assigned to the install's server (the device's, once it runs its OS)."""
    from apps.ipam.selectors import server_addresses

    if install.server is None:
        return set()
    return {str(item.address) for item in server_addresses(install.server)}


def may_speak_for(install: Install, address: str | None, *, running_os: bool = False) -> bool:
    """Is `address` the machine of this install? Its provisioning reservation always; with
    running_os (the installed system's calls), also the addresses the device was assigned."""
    if address is None or install.server is None:
        return False
    if address in server_reserved_addresses(install.server):
        return True
    return running_os and address in device_own_addresses(install)


def server_at(address: str | None) -> Any:
    """The server whose machine is at `address`: by its NIC's provisioning reservation (while it
    netboots and installs), or by an address the platform assigned to it (its OS, once running)."""
    from apps.ipam.models import Assignment

    if address is None:
        return None
    reserved = reservation_at(address)
    if reserved is not None:
        return reserved.interface.server
    ip = ipaddress.ip_address(address)
    for item in (Assignment.objects.active().filter(family=ip.version, first__lte=int(ip), last__gte=int(ip), server__isnull=False)
                 .select_related("server")):
        if item.address == str(ip):  # the device's own address, never its gateway
            return item.server
    return None


def device_at(address: str | None) -> Any:
    """The live device on the server at `address`, or None."""
    from apps.installs.models import Device

    server = server_at(address)
    if server is None:
        return None
    return (Device.objects.filter(server=server).exclude(state="deleted")
            .select_related("plan", "operating_system", "server__facility__metro", "project").first())


class MachineThrottleMiddleware:
    """The provisioning listener's rate per machine address (THROTTLE_RATES["machine_address"]): a scanner — or a
    machine stuck in a loop — gets 429 with Retry-After (JSON) once its address passes it. The health check is
    not counted. Requests of the public site pass untouched."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not on_provisioning_listener(request) or request.path == "/healthz":
            return self.get_response(request)
        address = client_address(request) or (request.META.get("REMOTE_ADDR") or "unknown")
        limit = throttling.rate("machine_address")
        wait = throttling.throttle_hit("machine_address", address, limit)
        if wait is not None:
            response = JsonResponse({"errors": [f"more than {limit.count} calls in {limit.seconds} s from {address}; "
                                                f"retry after {wait} s"]}, status=429)
            response["Retry-After"] = str(wait)
            return response
        return self.get_response(request)
