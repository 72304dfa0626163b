"""Fetches the platform makes on a customer's behalf (the custom iPXE script): where they may go.

The platform's own networks are reachable from where it runs, so a URL a customer hands in must not point
there: not loopback, link-local (cloud metadata lives at 169.254.169.254), multicast or unspecified, never a
facility's provisioning network, a BMC or the operator's BMC networks (settings.BMC_NETWORKS), and no other
private or reserved range (RFC 1918, CGNAT, ULA, …) unless the operator lists it in
settings.CUSTOM_IPXE_ALLOWED_NETWORKS (an internal mirror, the lab's loopback). The host is resolved once,
every address it resolves to is checked, and the fetch then connects to the checked address only (the name
stays in the Host header and TLS's SNI and certificate check): a name that answers differently a moment later
(DNS rebinding) gets nowhere. Redirects are followed by hand, each hop checked the same way."""
from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")
_getaddrinfo = socket.getaddrinfo  # the system resolver (a test stands a DNS that changes its answer in for it)


class TargetRefused(ValueError):
    """The URL may not be fetched; the message says why, for the customer."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (a name or an address literal)
    port: int
    path: str  # with the query
    address: Address  # the checked address the fetch connects to

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        literal = f"[{self.host}]" if ":" in self.host else self.host
        return literal if self.port == default else f"{literal}:{self.port}"


def _networks(values: Any) -> list[Network]:
    return [ipaddress.ip_network(str(value).strip(), strict=False) for value in (values or []) if str(value).strip()]


def _refused_networks() -> list[tuple[Network, str]]:
    """The platform's own networks, refused whatever the allow-list says."""
    from apps.hardware.models import BMC
    from apps.installs.models import ProvisioningNetwork

    refused = [(network, "a provisioning network") for network in _networks(ProvisioningNetwork.objects.values_list("network", flat=True))]
    refused += [(network, "a BMC network") for network in _networks(getattr(settings, "BMC_NETWORKS", []))]
    for host in BMC.objects.values_list("host", flat=True).distinct():
        try:
            refused.append((ipaddress.ip_network(host), "a BMC's address"))
        except ValueError:
            continue  # a BMC named by DNS: its network belongs in BMC_NETWORKS
    return refused


def address_refusal(address: Address, refused: list[tuple[Network, str]] | None = None) -> str | None:
    """Why the platform will not fetch from `address`, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network, what in _refused_networks() if refused is None else refused:
        if address.version == network.version and address in network:
            return f"is on {what}"
    if address.is_multicast or address.is_unspecified:
        return "is not a unicast address"
    if address.is_global:
        return None
    if any(address.version == network.version and address in network for network in _networks(settings.CUSTOM_IPXE_ALLOWED_NETWORKS)):
        return None
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    return "is a private or reserved address"


def resolve(host: str, port: int, *, timeout: float) -> list[Address]:
    """Every address `host` resolves to (getaddrinfo has no timeout of its own: bounded here)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    future = _resolver.submit(_getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        answers = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise TargetRefused(f"the host {host} did not resolve within {timeout:g} s") from None
    except OSError:
        raise TargetRefused(f"the host {host} does not resolve") from None
    addresses: list[Address] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TargetRefused(f"the host {host} does not resolve")
    return addresses


def target_check(url: str, *, timeout: float | None = None) -> Target:
    """Parse, resolve and check `url`; the Target to connect to, or TargetRefused with the reason."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http:// or https://")
    try:
        host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the URL's port is not a number from 1 to 65535") from None
    if not host:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL may not carry a user name or password")
    addresses = resolve(host, port, timeout=float(settings.CUSTOM_IPXE_TIMEOUT) if timeout is None else timeout)
    refused = _refused_networks()
    for address in addresses:
        why = address_refusal(address, refused)
        if why is not None:
            shown = host if str(address) == host else f"{host} ({address})"
            raise TargetRefused(f"the platform does not fetch from {shown}: it {why}")
    path = parts.path or "/"
    return Target(scheme=scheme, host=host, port=port, path=f"{path}?{parts.query}" if parts.query else path, address=addresses[0])
