"""Output shapes and input serializers of the staff hardware API. Secrets never leave the server."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.hardware.models import CommissioningFinding, FindingStatus, Server, ServerState


def interface_out(nic: Any) -> dict[str, Any]:
    cable = getattr(nic, "cable", None)
    return {"id": nic.pk, "name": nic.name, "mac": nic.mac, "speed_mbps": nic.speed_mbps,
            "cabled_to": {"switch": cable.port.switch.hostname, "port": cable.port.name} if cable else None}


def finding_out(finding: CommissioningFinding) -> dict[str, Any]:
    return {"id": finding.pk, "kind": finding.kind, "message": finding.message, "status": finding.status,
            "created_at": finding.created_at.isoformat()}


def server_out(server: Server, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(server.pk), "serial": server.serial, "asset_tag": server.asset_tag, "plan": server.plan.slug,
        "facility": server.facility.code, "rack": server.rack.name if server.rack_id else None, "position_u": server.position_u,
        "height_u": server.height_u, "state": server.state, "state_reason": server.state_reason,
        "state_changed_at": server.state_changed_at.isoformat() if server.state_changed_at else None,
    }
    if detail:
        bmc = getattr(server, "bmc", None)
        data["bmc"] = None if bmc is None else {
            "protocol": bmc.protocol, "host": bmc.host, "port": bmc.port, "username": bmc.username,
            "power_state": bmc.power_state, "last_error": bmc.last_error}
        data["interfaces"] = [interface_out(n) for n in server.interfaces.all()]
        data["open_findings"] = [finding_out(f) for f in server.findings.all() if f.status == FindingStatus.OPEN]
    return data


class TransitionIn(serializers.Serializer):
    to = serializers.ChoiceField(choices=ServerState.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ImportIn(serializers.Serializer):
    csv = serializers.CharField(trim_whitespace=False, help_text="The whole CSV file (first line = column names).")
    dry_run = serializers.BooleanField(required=False, default=False)
