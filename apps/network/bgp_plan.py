"""Reads for customer BGP: which sessions a server's routed port carries, the addresses of each side and
the prefixes the switch accepts — the port's desired BGP state and the customer's "neighbors" view come
from here, so the two can never disagree. No writes."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.hardware.models import Server
from apps.ipam.models import Assignment
from apps.ipam.selectors import announceable_blocks, server_addresses
from apps.network.models import AddressFamily, BgpConfig, BgpConfigStatus, BgpDeployment, BgpSession

FAMILY_NUMBER = {AddressFamily.IPV4: 4, AddressFamily.IPV6: 6}


@dataclass(frozen=True)
class Neighbor:
    """One session seen from the customer's server: whom to peer with and what will be accepted."""

    family: int
    customer_ip: str
    customer_as: int
    peer_ip: str
    peer_as: int
    prefixes: tuple[str, ...]
    default_route: bool
    md5_enabled: bool


def session_link(links: list[Assignment], family: int, deployment: str) -> Assignment | None:
    """The link a session runs over: IPv6 on the public /127; IPv4 on the private /31 for local BGP (routes
    stay inside the facility) and on the public /31 for global BGP, as the real service did."""
    wanted_public = family == 6 or deployment == BgpDeployment.GLOBAL
    return next((a for a in links if a.family == family and a.public == wanted_public and a.gateway), None)


def customer_side(link: Assignment) -> str:
    """The device's own address on a /31 or /127 (the other one is the switch's, the gateway)."""
    network = ipaddress.ip_network(str(link.network), strict=False)
    gateway = ipaddress.ip_address(str(link.gateway))
    return str(next(a for a in (network.network_address, network.broadcast_address) if a != gateway))


def live_sessions(server: Server, *, device_id: Any = None) -> tuple[BgpConfig | None, list[BgpSession], list[Assignment]]:
    """The project's enabled configuration, the sessions of the device that holds `server`'s addresses now
    (a deleted device's sessions carry nothing), and the server's links."""
    links = server_addresses(server)
    holders = {a.device_id for a in links if a.device_id}
    if device_id is not None:
        holders &= {device_id}
    sessions = list(BgpSession.objects.filter(server=server, device_id__in=holders).order_by("address_family"))
    if not sessions:
        return None, [], links
    config = BgpConfig.objects.filter(project_id=sessions[0].project_id, status=BgpConfigStatus.ENABLED).select_related("project").first()
    return config, sessions, links


def server_neighbors(server: Server, *, device_id: Any = None) -> list[Neighbor]:
    """The live BGP sessions of the device on `server` (of `device_id`, when given), each with its link."""
    config, sessions, links = live_sessions(server, device_id=device_id)
    if config is None:
        return []
    metro = server.facility.metro if server.facility_id else None
    found = []
    for session in sessions:
        family = FAMILY_NUMBER[AddressFamily(session.address_family)]
        link = session_link(links, family, config.deployment_type)
        if link is None:
            continue
        own_links = session.device_id if config.deployment_type == BgpDeployment.LOCAL else None
        prefixes = announceable_blocks(project=config.project, family=family, metro=metro, device_id=own_links)
        found.append(Neighbor(family=family, customer_ip=customer_side(link), customer_as=config.asn,
                              peer_ip=str(ipaddress.ip_address(str(link.gateway))), peer_as=settings.BGP_SWITCH_ASN,
                              prefixes=tuple(prefixes), default_route=session.default_route, md5_enabled=bool(config.md5)))
    return found


def server_bgp_spec(server: Server) -> dict[str, Any]:
    """The BGP part of the desired state of the server's routed port (JSON, no secret), or {} for none."""
    config, _, _ = live_sessions(server)
    neighbors = server_neighbors(server)
    if config is None or not neighbors:
        return {}
    return {"config": str(config.pk), "local_as": settings.BGP_SWITCH_ASN, "peer_as": config.asn, "max_prefix": config.max_prefix,
            "md5": config.md5_serial if config.md5 else 0,
            "peers": [{"family": n.family, "neighbor": n.customer_ip, "prefixes": list(n.prefixes), "default_route": n.default_route}
                      for n in neighbors]}
