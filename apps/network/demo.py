"""Demo: every cabled switch port of the demo hardware becomes a managed port with its desired state
from the model (isolated, as no demo server holds addresses yet). Nothing is pushed here: the worker's
reconcile sweep pushes them once `make run` has the lab switches up."""
from __future__ import annotations

from typing import Any

from apps.audit.services import audit_record
from apps.hardware.models import Server
from apps.network.models import PortConfig
from apps.network.services import server_port_plan


def seed(*, out: Any, context: dict[str, Any]) -> str:
    managed = set(PortConfig.objects.values_list("port_id", flat=True))
    servers = Server.objects.filter(interfaces__cable__isnull=False).exclude(interfaces__cable__port_id__in=managed).distinct()
    new: list[PortConfig] = []
    for server in servers.order_by("serial"):
        for port, spec in server_port_plan(server):
            if port.pk not in managed:
                new.append(PortConfig(port=port, switch_id=port.switch_id, server=server, changed_by="demo",
                                      change_reason="demo: desired state from the model", **spec))
    PortConfig.objects.bulk_create(new, batch_size=500)
    if new:
        audit_record(action="network.demo.seed", changes={"managed_ports": [None, len(new)]})
    pending = PortConfig.objects.filter(applied_version=0).count()
    return f"{PortConfig.objects.count()} managed switch ports ({pending} waiting for their first push by the worker)"
