"""Equinix Metal v1 shapes of customer networking: a project's BGP configuration, a device's BGP sessions
and its BGP neighbors. Outputs are plain dicts in the real service's field names; inputs validate."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.network.bgp_plan import Neighbor
from apps.network.models import AddressFamily, BgpConfig, BgpDeployment, BgpSession

BASE = "/metal/v1"


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def bgp_session_out(session: BgpSession) -> dict[str, Any]:
    return {
        "id": str(session.pk), "href": f"{BASE}/bgp/sessions/{session.pk}",
        "address_family": session.address_family, "default_route": session.default_route,
        # As the real service: "unknown" until the switch has been read, then "up" (Established) or "down"
        # (read on the facility's workers with the drift check: apps.network.bgp.bgp_session_status_refresh).
        "status": session.status, "learned_routes": [], "switch_name": session.server and _switch_name(session),
        "device": {"id": str(session.device_id), "href": f"{BASE}/devices/{session.device_id}"},
        "created_at": _time(session.created_at), "updated_at": _time(session.updated_at),
    }


def _switch_name(session: BgpSession) -> str | None:
    port = session.server.port_configs.select_related("switch").order_by("port__name").first()
    return port.switch.hostname if port else None


def bgp_config_out(config: BgpConfig | None, *, project_id: Any) -> dict[str, Any]:
    if config is None:
        # The real service's answer for a project without BGP: an empty object, read by Terraform as "none".
        return {}
    return {
        "id": str(config.pk), "href": f"{BASE}/projects/{project_id}/bgp-config",
        "status": config.status, "deployment_type": config.deployment_type, "asn": config.asn,
        # As the real service: the password is shown to the project's members (they configure it on their servers).
        "md5": config.md5 or None, "max_prefix": config.max_prefix, "route_object": config.route_object or None,
        "created_at": _time(config.created_at), "requested_at": _time(config.requested_at),
        "project": {"href": f"{BASE}/projects/{project_id}"},
        "sessions": [bgp_session_out(s) for s in config.project.bgp_sessions.select_related("server").order_by("created_at", "pk")],
        "ranges": [],
    }


def neighbor_out(neighbor: Neighbor, *, md5: str) -> dict[str, Any]:
    routes_out = []
    if neighbor.default_route:
        routes_out = [{"route": "0.0.0.0/0" if neighbor.family == 4 else "::/0", "exact": True}]
    return {
        "address_family": neighbor.family, "customer_as": neighbor.customer_as, "customer_ip": neighbor.customer_ip,
        "md5_enabled": bool(md5), "md5_password": md5 or None, "multihop": False,
        "peer_as": neighbor.peer_as, "peer_ips": [neighbor.peer_ip],
        "routes_in": [{"route": prefix, "exact": True} for prefix in neighbor.prefixes], "routes_out": routes_out,
    }


class BgpConfigIn(serializers.Serializer):
    deployment_type = serializers.ChoiceField(choices=BgpDeployment.values)
    asn = serializers.IntegerField(min_value=0, max_value=4294967295)
    md5 = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=20)
    use_case = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=2000)


class BgpSessionIn(serializers.Serializer):
    address_family = serializers.ChoiceField(choices=AddressFamily.values)
    default_route = serializers.BooleanField(required=False, default=False, allow_null=True)
