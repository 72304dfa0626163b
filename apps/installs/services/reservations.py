"""Hardware reservations: staff set a server aside for a project for a term; the project deploys on it (by id or
`next-available`); it moves within its organization. The server pick honours them: `unreserved()` is what an
on-demand order may take, `reserved_server_lock()` what an order on a reservation takes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.audit.services import audit_record, snapshot
from apps.hardware.models import Server
from apps.installs.models import Device, DeviceState, HardwareReservation

NEXT_AVAILABLE = "next-available"


def in_force(now: dt.datetime | None = None) -> QuerySet[HardwareReservation]:
    now = now or timezone.now()
    return HardwareReservation.objects.filter(starts_at__lte=now, ends_at__gt=now)


def unreserved(servers: QuerySet[Server]) -> QuerySet[Server]:
    """The servers of `servers` no reservation in force holds: the only ones an on-demand order may pick."""
    return servers.exclude(pk__in=in_force().values("server_id"))


def free_servers(*, plan: Any, facility: Any = None, metro: Any = None) -> int:
    """How many more orders the pool can serve now: the ready, unreserved servers of `plan` in the facility (or
    metro), locked in one order (so that concurrent callers queue rather than deadlock, and never count the same
    server twice), less the orders already waiting for a server there. Call inside a transaction."""
    pool = Server.objects.filter(plan=plan, state="ready")
    waiting = Device.objects.filter(plan=plan, state=DeviceState.QUEUED, server__isnull=True, hardware_reservation__isnull=True)
    if facility is not None:
        pool = pool.filter(facility=facility)
        waiting = waiting.filter(Q(facility=facility) | Q(facility__isnull=True, metro=facility.metro_id))
    else:
        pool = pool.filter(facility__metro=metro)
        waiting = waiting.filter(metro=metro)
    held = list(unreserved(pool).select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    return max(0, len(held) - waiting.count())


def _live_device_on(reservation: HardwareReservation) -> Device | None:
    return reservation.devices.exclude(state=DeviceState.DELETED).first()


def hardware_reservation_create(*, project: Any, server: Server, ends_at: dt.datetime, starts_at: dt.datetime | None = None,
                                custom_rate: Decimal | None = None, actor: Any = None) -> HardwareReservation:
    """Reserve `server` for `project` from `starts_at` (now) to `ends_at`. The server must not be reserved in an
    overlapping term, nor run another project's device."""
    starts_at = starts_at or timezone.now()
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The term must end after it starts."})
    if custom_rate is not None and Decimal(custom_rate) < 0:
        raise ValidationError({"custom_rate": "A rate cannot be negative."})
    with transaction.atomic():
        # The server's row lock orders this against a concurrent pick of the same server (which locks it too).
        locked = Server.objects.select_for_update(of=("self",)).get(pk=server.pk)
        overlapping = HardwareReservation.objects.filter(server=locked, starts_at__lt=ends_at, ends_at__gt=starts_at).first()
        if overlapping is not None:
            raise ValidationError({"server": f"Server {locked.serial} is already reserved until {overlapping.ends_at:%Y-%m-%d %H:%M} UTC."})
        other = Device.objects.filter(server=locked).exclude(state=DeviceState.DELETED).exclude(project=project).first()
        if other is not None:
            raise ValidationError({"server": f"Server {locked.serial} runs another project's device; reserve it once it is free."})
        reservation = HardwareReservation.objects.create(project=project, server=locked, starts_at=starts_at, ends_at=ends_at,
                                                         custom_rate=custom_rate,
                                                         created_by=actor if getattr(actor, "is_authenticated", False) else None)
        audit_record(action="installs.hardwarereservation.create", target=reservation,
                     changes={k: [None, v] for k, v in snapshot(reservation).items()}, actor=actor)
    return reservation


def hardware_reservation_move(*, reservation: HardwareReservation, project: Any, actor: Any = None) -> HardwareReservation:
    """Move a reservation to another project of the same organization (not while a device runs on it)."""
    with transaction.atomic():
        locked = HardwareReservation.objects.select_for_update().select_related("project").get(pk=reservation.pk)
        if project.organization_id != locked.project.organization_id:
            raise ValidationError({"project_id": "A reservation moves only to a project of the same organization."})
        if project.pk == locked.project_id:
            raise ValidationError({"project_id": "The reservation is already in that project."})
        device = _live_device_on(locked)
        if device is not None:
            raise ValidationError({"project_id": f"Device {device.hostname} runs on this reservation; delete it before moving the reservation."})
        before = snapshot(locked, ["project"])
        HardwareReservation.objects.filter(pk=locked.pk).update(project=project)
        locked.project = project
        audit_record(action="installs.hardwarereservation.move", target=locked, changes={"project": [before["project"], str(project.pk)]},
                     actor=actor)
    return locked


def reservation_for_order(*, project: Any, requested: str, plan: Any = None, facility: Any = None, metro: Any = None) -> HardwareReservation:
    """The reservation an order deploys on, locked: the one named (a UUID) or, for `next-available`, the first
    free one of the project matching the plan and place asked for. Call inside the order's transaction."""
    now = timezone.now()
    candidates = in_force(now).filter(project=project).exclude(devices__in=Device.objects.exclude(state=DeviceState.DELETED))
    if requested == NEXT_AVAILABLE:
        if plan is not None:
            candidates = candidates.filter(server__plan=plan)
        if facility is not None:
            candidates = candidates.filter(server__facility=facility)
        elif metro is not None:
            candidates = candidates.filter(server__facility__metro=metro)
        # SKIP LOCKED: simultaneous next-available orders each take a different reservation.
        reservation = candidates.select_for_update(skip_locked=True, of=("self",)).order_by("ends_at", "pk").first()
        if reservation is None:
            raise ValidationError({"hardware_reservation_id": "No free hardware reservation of this project matches the order."})
        return reservation
    try:
        reservation = HardwareReservation.objects.select_for_update(of=("self",)).get(Q(pk=requested), project=project)
    except (HardwareReservation.DoesNotExist, ValidationError, ValueError):
        raise ValidationError({"hardware_reservation_id": f"No hardware reservation '{requested}' in this project."}) from None
    if not (reservation.starts_at <= now < reservation.ends_at):
        raise ValidationError({"hardware_reservation_id": "This reservation is not in force (its term has not started or has ended)."})
    device = _live_device_on(reservation)
    if device is not None:
        raise ValidationError({"hardware_reservation_id": f"Device {device.hostname} already runs on this reservation."})
    return reservation


def reserved_server_lock(device: Device) -> Server | None:
    """The server of the device's reservation, locked, if it is ready (else None). For the workflow's pick."""
    reservation = device.hardware_reservation
    assert reservation is not None
    return Server.objects.select_for_update(of=("self",)).filter(pk=reservation.server_id, state="ready").first()
