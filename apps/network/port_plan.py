"""The desired state of a server's switch ports, computed from the model (no writes): routed, isolated, a
Layer 2 trunk, or a member of the server's LACP bundle. apps.network.services writes it and pushes it."""
from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

from apps.hardware.models import Server, ServerState, SwitchPort
from apps.ipam.selectors import server_addresses
from apps.network.bgp_plan import server_bgp_spec
from apps.network.drivers import PortMode
from apps.network.drivers.junos import lag_name

# Servers in these states carry their addresses on the wire; every other state is isolated.
PROVISIONED_SERVER_STATES = frozenset({ServerState.ALLOCATED, ServerState.PROVISIONING, ServerState.ACTIVE})


def server_port_plan(server: Server) -> list[tuple[SwitchPort, dict[str, Any]]]:
    """The desired state of each switch port cabled to `server`, from the model.

    The server's addresses go on the port cabled to its first NIC (by name); other cabled ports are isolated:
    one routed link per server (the /31 and /127 pairs are point-to-point). A NIC the device made Layer 2 is a
    trunk of its VLANs; while bond0 is Layer 2 and two or more NICs are bonded on one switch, those NICs are an
    LACP bundle named after the first one's port, carrying bond0's VLANs (kept on the first NIC's choice)."""
    ports = list(SwitchPort.objects.filter(cable__interface__server=server).select_related("switch", "cable__interface__port_layer__native_vlan")
                 .order_by("cable__interface__name", "pk"))
    provisioned = server.state in PROVISIONED_SERVER_STATES
    links = _gateway_addresses(server) if provisioned else []
    # Layer 2 choices count only for the device that holds the server's links now.
    holders = {a.device_id for a in server_addresses(server) if a.device_id}
    layers = [getattr(port.cable.interface, "port_layer", None) for port in ports]
    live = [layer if provisioned and layer is not None and layer.layer2 and layer.device_id in holders else None for layer in layers]
    bundle = _bundle(ports, live)
    plan = []
    for index, (port, layer) in enumerate(zip(ports, live, strict=True)):
        nic = port.cable.interface.name
        if layer is not None and index in bundle:
            owner = index == min(bundle)
            spec = {"mode": PortMode.LAYER2, "lag": lag_name(ports[min(bundle)].name), "mtu": settings.SWITCH_PORT_MTU,
                    "description": f"metalyard {server.serial} {nic} bond0", **(_trunk(live[min(bundle)]) if owner else {})}
        elif layer is not None:
            spec = {"mode": PortMode.LAYER2, **_trunk(layer), "mtu": settings.SWITCH_PORT_MTU, "description": f"metalyard {server.serial} {nic} layer2"}
        elif index == 0 and links:
            spec = {"mode": PortMode.PROVISIONED, "addresses": links, "mtu": settings.SWITCH_PORT_MTU,
                    "description": f"metalyard {server.serial} {nic} provisioned", "bgp": server_bgp_spec(server)}
        else:
            why = server.state if index == 0 or not links else "secondary NIC"
            spec = {"mode": PortMode.ISOLATED, "addresses": [], "mtu": None, "description": f"metalyard {server.serial} {nic} isolated ({why})"}
        plan.append((port, spec))
    return plan


def _bundle(ports: list[SwitchPort], live: list[Any]) -> set[int]:
    """Indexes of the ports in the server's LACP bundle: bond0 (the first NIC) in Layer 2 and bonded, with the other
    bonded Layer 2 NICs on the same switch; fewer than two members is no bundle (each NIC is then its own trunk)."""
    if not live or live[0] is None or not live[0].bonded:
        return set()
    members = {i for i, layer in enumerate(live) if layer is not None and layer.bonded and ports[i].switch_id == ports[0].switch_id}
    return members if len(members) >= 2 else set()


def _trunk(layer: Any) -> dict[str, Any]:
    return {"vlans": sorted(layer.virtual_networks.values_list("vxlan", flat=True)),
            "native_vlan": layer.native_vlan.vxlan if layer.native_vlan_id else None}


def _gateway_addresses(server: Server) -> list[str]:
    """The switch side of each of the server's links: "<gateway>/<prefix length>"."""
    links = []
    for assignment in server_addresses(server):
        if not assignment.gateway:
            continue
        prefix = ipaddress.ip_network(str(assignment.network), strict=False).prefixlen
        links.append(f"{ipaddress.ip_address(str(assignment.gateway))}/{prefix}")
    return links
