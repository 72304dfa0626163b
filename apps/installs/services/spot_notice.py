"""Notice to spot devices (kept apart from the market so that an on-demand order can reclaim capacity without
the order module depending on the market): `termination_time` = now + SPOT_TERMINATION_NOTICE_SECONDS and an
event; apps.installs.services.spot deprovisions them when the time comes."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.installs.models import Device, DeviceState

LIVE = [DeviceState.QUEUED, DeviceState.PROVISIONING, DeviceState.ACTIVE, DeviceState.POWERING_OFF, DeviceState.INACTIVE,
        DeviceState.POWERING_ON, DeviceState.REINSTALLING]


def spot_reclaim(*, device: Device, reason: str, now: dt.datetime | None = None) -> Device:
    """Give a spot device its notice: termination_time = now + SPOT_TERMINATION_NOTICE_SECONDS, and an event."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        if locked.termination_time is not None or locked.state not in LIVE:
            return locked
        locked.termination_time = now + dt.timedelta(seconds=settings.SPOT_TERMINATION_NOTICE_SECONDS)
        Device.objects.filter(pk=locked.pk).update(termination_time=locked.termination_time)
        audit_record(action="installs.device.spot_termination", target=locked, reason=reason,
                     changes={"termination_time": [None, locked.termination_time]})
    return locked


def spot_reclaim_for_demand(*, plan: Any, facility: Any = None, metro: Any = None, now: dt.datetime | None = None) -> Device | None:
    """An on-demand order found no server: give notice to the lowest bid among the spot devices that could free one."""
    devices = Device.objects.filter(spot_instance=True, termination_time__isnull=True, state__in=LIVE, plan=plan, server__isnull=False)
    devices = devices.filter(server__facility=facility) if facility is not None else devices.filter(server__facility__metro=metro)
    device = devices.order_by("spot_price_max", "created_at").first()
    if device is None:
        return None
    return spot_reclaim(device=device, reason=f"an on-demand {plan.slug} order needs the capacity", now=now)
