"""A customer's power actions on their device: the device moves through its state machine while the
BMC call runs on the facility's worker."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_record
from apps.hardware.power import NoUsableBmc, server_power
from apps.installs.models import Device
from project.states import StateConflict, transition
from project.tasks import enqueue_for_facility


def device_power(*, device: Device, action: str, bmc_action: str, passing: str | None, allowed: frozenset[str],
                 actor: Any = None) -> None:
    """Ask for a power action on a customer's device; the BMC call runs on the facility's worker.

    What each action does is declared once, in the action registry (apps/installs/actions.py): its BMC call
    `bmc_action`, the state the device passes through while it runs (`passing`; None: it stays) and the
    states it may start from (`allowed`), checked again here under the row lock."""
    with transaction.atomic():
        device = Device.objects.select_for_update(of=("self",)).select_related("server__facility").get(pk=device.pk)
        if device.server_id is None:
            raise ValidationError({"device": "This device has no server yet; wait until it is active."})
        if device.state not in allowed:
            raise StateConflict(f"{device.hostname} is {device.state}; {action} needs it {' or '.join(sorted(allowed))}.")
        if passing is not None:
            transition(device, passing, actor=actor, reason=f"{action} requested")
        else:
            audit_record(action=f"installs.device.{action}", target=device, actor=actor, reason=f"{action} requested")
        device_id, actor_id, facility_code = str(device.pk), getattr(actor, "pk", None), device.server.facility.code
        transaction.on_commit(lambda: enqueue_for_facility(
            "apps.installs.tasks.device_power_apply", device_id, action, actor_id, facility_code=facility_code))


def device_power_apply(*, device_id: Any, action: str, bmc_action: str, passing: str | None, landing: str, on_failure: str,
                       actor: Any = None) -> Device:
    """Run the BMC call of a requested power action and settle the device's state: `landing` when it worked,
    `on_failure` (where it started) with the BMC's reason when not. Safe to retry: a device no longer in the
    passing state (already settled) is left alone."""
    device = Device.objects.select_related("server").get(pk=device_id)
    if passing is not None and device.state != passing:
        return device
    try:
        event = server_power(server=device.server, action=bmc_action, actor=actor, source="customer")
        failed = event.outcome in ("gave_up", "fatal")
        message = event.message
    except NoUsableBmc as exc:
        failed, message = True, str(exc)
    if passing is None:
        if failed:
            audit_record(action=f"installs.device.{action}.failed", target=device, actor=actor, reason=message)
        return device
    if failed:
        # The machine did not change: back to where it was, with the BMC's reason on record.
        return transition(device, on_failure, actor=actor, reason=f"{action} failed: {message}")
    return transition(device, landing, actor=actor, reason=f"{action} done")
