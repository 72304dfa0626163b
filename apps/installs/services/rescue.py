"""Rescue mode: the device's server boots the rescue system (the installer's initramfs in rescue mode) in
memory, with the device's SSH keys and addresses configured and a shell on its serial console (SOS); the
disk is not touched. The device shows `rescue` until a reboot boots it from its disk again (or it is
reinstalled or deleted). A BMC that does not answer ends the rescue run `failed`, cleaned up as any run."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_record
from apps.hardware.power import NoUsableBmc, server_power_many
from apps.installs.models import Device, DeviceState, Install, InstallKind
from apps.installs.services.admission import installs_admit
from project.states import StateConflict, transition
from project.tasks import enqueue_for_facility


def device_rescue(*, device: Device, actor: Any = None, reason: str = "") -> Install:
    """Boot the device's server into the rescue system: the device goes `rescue` now, the run does the rest."""
    with transaction.atomic():
        device = Device.objects.select_for_update(of=("self",)).select_related("server").get(pk=device.pk)
        if device.locked:
            raise ValidationError({"locked": "Cannot rescue a locked item"})
        if device.server_id is None:
            raise ValidationError({"device": "This device has no server to rescue."})
        if Install.objects.filter(server_id=device.server_id, state__in=Install.OPEN).exists():
            raise StateConflict(f"{device.hostname} has an install run under way; rescue it once that has ended.")
        transition(device, DeviceState.RESCUE, actor=actor, reason=reason or "rescue requested")
        install = Install.objects.create(kind=InstallKind.RESCUE, device=device, server=device.server)
        transaction.on_commit(installs_admit)
    return install


def device_rescue_exit(*, device: Device, actor: Any = None, reason: str = "") -> None:
    """Leave the rescue system: boot from the disk (the BMC call runs on the facility's worker)."""
    with transaction.atomic():
        device = Device.objects.select_for_update(of=("self",)).select_related("server__facility").get(pk=device.pk)
        if device.state != DeviceState.RESCUE:
            raise StateConflict(f"{device.hostname} is {device.state}, not in rescue.")
        if Install.objects.filter(device=device, kind=InstallKind.RESCUE, state__in=Install.OPEN).exists():
            raise StateConflict(f"{device.hostname}'s rescue system is still booting; reboot it once it is up.")
        audit_record(action="installs.device.rescue_exit", target=device, actor=actor, reason=reason or "reboot from the disk")
        device_id, actor_id, facility = str(device.pk), getattr(actor, "pk", None), device.server.facility.code
        transaction.on_commit(lambda: enqueue_for_facility("apps.installs.tasks.device_rescue_exit_apply", device_id, actor_id,
                                                           facility_code=facility))


def device_rescue_exit_apply(*, device_id: Any, actor: Any = None) -> Device:
    """On the facility's worker: next boot from the disk, power cycle; the device is `active` again once
    the BMC did it. A BMC that fails leaves the device in `rescue`, with the reason on record. Safe to retry."""
    device = Device.objects.select_related("server").get(pk=device_id)
    if device.state != DeviceState.RESCUE:
        return device
    try:
        events = server_power_many(server=device.server, actions=("boot_disk", "off", "on"), actor=actor, source="customer")
        failed = next((e for e in events if e.outcome in ("gave_up", "fatal")), None)
        message = failed.message if failed is not None else ""
    except NoUsableBmc as exc:
        failed, message = True, str(exc)  # type: ignore[assignment]
    if failed:
        audit_record(action="installs.device.rescue_exit.failed", target=device, actor=actor, reason=message or "BMC failed")
        return device
    return transition(device, DeviceState.ACTIVE, actor=actor, reason="rebooted from the disk out of rescue")
