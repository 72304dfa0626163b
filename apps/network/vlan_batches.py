"""VLAN assignment batches (the real service's POST /ports/{id}/vlan-assignments/batches, which Terraform's
equinix_metal_port_vlan_attachment and equinix_metal_port use): several assignments and unassignments of one
port, checked when asked (bad input is a 422 and nothing is queued), then applied by a task on the facility's
workers as one change of the port's desired state and one push. The batch goes queued → in_progress →
completed, or failed with the reason (a VLAN gone meanwhile, the switch's refusal)."""
from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_record
from apps.hardware.models import NetworkInterface
from apps.network import services
from apps.network.devices import DeviceRef
from apps.network.layer2 import check_trunk, check_vlan, port_layer_locked
from apps.network.models import PortLayer, VirtualNetwork, VlanAssignmentBatch, VlanBatchState
from project.states import transition
from project.tasks import enqueue_for_facility

MAX_ASSIGNMENTS = 100  # a trunk carries at most a few dozen VLANs; more in one batch is a mistake
ENTRY_STATES = ("assigned", "unassigned")


def _vlan(device: DeviceRef, interface: NetworkInterface, reference: Any) -> VirtualNetwork:
    text = str(reference or "").strip()
    vlans = VirtualNetwork.objects.filter(project=device.project)
    try:
        found = vlans.filter(pk=uuid.UUID(text)).first()
    except ValueError:
        found = vlans.filter(vxlan=int(text), metro_id=interface.server.facility.metro_id).first() if text.isdigit() else None
    if found is None:
        raise ValidationError({"vlan_assignments": f"The project has no VLAN '{text}' (give its id or its VLAN number in the device's metro)."})
    return found


def vlan_batch_create(*, device: DeviceRef, interface: NetworkInterface, bond: bool, entries: Any, actor: Any = None) -> VlanAssignmentBatch:
    """Check the batch against the port as it is now and queue it; the task applies it after commit."""
    if not isinstance(entries, list) or not entries:
        raise ValidationError({"vlan_assignments": "Give at least one {vlan, state} entry."})
    if len(entries) > MAX_ASSIGNMENTS:
        raise ValidationError({"vlan_assignments": f"At most {MAX_ASSIGNMENTS} entries in one batch."})
    with transaction.atomic():
        server, layer = port_layer_locked(interface)
        assignments, seen = [], set()
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValidationError({"vlan_assignments": "Each entry is an object with vlan, state and optionally native."})
            state = entry.get("state") or "assigned"
            if state not in ENTRY_STATES:
                raise ValidationError({"vlan_assignments": f"'{state}' is not a state; use assigned or unassigned."})
            vlan = _vlan(device, interface, entry.get("vlan"))
            check_vlan(server, vlan, device.project)
            if vlan.pk in seen:
                raise ValidationError({"vlan_assignments": f"VLAN {vlan.vxlan} appears twice in the batch."})
            seen.add(vlan.pk)
            native = bool(entry.get("native"))
            if native and state != "assigned":
                raise ValidationError({"vlan_assignments": f"VLAN {vlan.vxlan} cannot be native and unassigned."})
            assignments.append({"id": str(uuid.uuid4()), "vlan": vlan.vxlan, "virtual_network": str(vlan.pk), "state": state, "native": native})
        if sum(a["native"] for a in assignments) > 1:
            raise ValidationError({"vlan_assignments": "At most one VLAN of the batch is native."})
        if any(a["state"] == "assigned" for a in assignments):
            check_trunk(interface, layer, bond=bond)
        batch = VlanAssignmentBatch.objects.create(project=device.project, device_id=device.id, interface=interface, bond=bond,
                                                   assignments=assignments)
        audit_record(action="network.vlan_batch.create", target=batch, actor=actor, reason=f"{device.hostname} {'bond0' if bond else interface.name}",
                     changes={"assignments": [None, [f"{a['state']} {a['vlan']}{' native' if a['native'] else ''}" for a in assignments]]})
        code = server.facility.code if server.facility_id else None
        transaction.on_commit(lambda: enqueue_for_facility("apps.network.tasks.vlan_batch_run", str(batch.pk), facility_code=code,
                                                           task_name=f"network.vlan_batch.{batch.pk}", group="network.vlan_batch"))
    return batch


def _apply(batch: VlanAssignmentBatch) -> services.PortChange:
    """The batch's entries on the port's Layer 2 state, then the server's ports recomputed once (no push yet)."""
    interface = NetworkInterface.objects.select_related("server__facility", "cable__port").get(pk=batch.interface_id)
    server, layer = port_layer_locked(interface)
    if layer.device_id != batch.device_id:
        raise ValidationError("The device that asked for this batch no longer holds the server.")
    if any(a["state"] == "assigned" for a in batch.assignments):
        check_trunk(interface, layer, bond=batch.bond)
    for entry in batch.assignments:
        vlan = VirtualNetwork.objects.filter(pk=entry["virtual_network"]).first()
        if vlan is None:
            raise ValidationError(f"VLAN {entry['vlan']} was deleted after the batch was made.")
        if entry["state"] == "assigned":
            check_vlan(server, vlan, batch.project)
            layer.virtual_networks.add(vlan)
            if entry["native"]:
                layer.native_vlan = vlan
        else:
            layer.virtual_networks.remove(vlan)
            if layer.native_vlan_id == vlan.pk:
                layer.native_vlan = None
    layer.save()
    audit_record(action="network.port.vlan_batch", target=layer, reason=f"batch {batch.pk}",
                 changes={"vlans": [None, sorted(layer.virtual_networks.values_list("vxlan", flat=True))],
                          "native_vlan": [None, layer.native_vlan.vxlan if layer.native_vlan_id else None]})
    return services.port_configure_for_server(server=server, reason=f"VLAN batch {batch.pk}", schedule=False)


def vlan_batch_run(batch_id: Any) -> VlanAssignmentBatch:
    """Apply a queued batch: one desired-state change, one push (or the running push's next round), then the outcome.
    Idempotent: a batch that is not queued is left as it is."""
    batch = VlanAssignmentBatch.objects.get(pk=batch_id)
    if batch.state != VlanBatchState.QUEUED:
        return batch
    batch = transition(batch, VlanBatchState.IN_PROGRESS, reason="applying")
    try:
        with transaction.atomic():
            change = _apply(batch)
    except ValidationError as exc:
        return _failed(batch, [" ".join(exc.messages)])
    for switch_id in change.switch_ids:
        services.switch_push(switch_id=switch_id)
    outcome = services.port_change_wait(change, timeout=settings.SWITCH_PUSH_LEASE_SECONDS)
    if not outcome.done:
        return _failed(batch, [outcome.error or "The switch did not apply the change."])
    return transition(batch, VlanBatchState.COMPLETED, reason="the switch runs the port's VLANs")


def _failed(batch: VlanAssignmentBatch, messages: list[str]) -> VlanAssignmentBatch:
    return transition(batch, VlanBatchState.FAILED, reason="; ".join(messages)[:500], extra={"error_messages": messages})


def current_assignments(layer: PortLayer | None, *, port_href: str) -> list[dict[str, Any]]:
    """The port's VLAN assignments as the real service lists them (GET /ports/{id}/vlan-assignments)."""
    if layer is None:
        return []
    out = []
    for vlan in sorted(layer.virtual_networks.all(), key=lambda v: v.vxlan):
        out.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{port_href}/vlan-assignments/{vlan.pk}")), "vlan": vlan.vxlan,
                    "native": layer.native_vlan_id == vlan.pk, "state": "assigned", "port": {"href": port_href},
                    "virtual_network": {"href": f"/metal/v1/virtual-networks/{vlan.pk}"},
                    "created_at": _time(layer.changed_at), "updated_at": _time(layer.changed_at)})
    return out


def batch_out(batch: VlanAssignmentBatch, *, port_href: str, port_id: str) -> dict[str, Any]:
    return {"id": str(batch.pk), "state": batch.state, "quantity": len(batch.assignments), "error_messages": list(batch.error_messages),
            "port": {"id": port_id, "href": port_href}, "project": {"href": f"/metal/v1/projects/{batch.project_id}"},
            "vlan_assignments": [{"id": a["id"], "vlan": a["vlan"], "state": a["state"], "native": a["native"]} for a in batch.assignments],
            "created_at": _time(batch.created_at), "updated_at": _time(batch.updated_at)}


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
