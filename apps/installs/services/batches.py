"""Batch orders: many devices of one description in one request, each with its own outcome. A batch takes only
what the pool can give: the ready, unreserved servers of its plan and place, less the orders already waiting
for one, counted under those servers' row locks so that two batches never promise the same server. The rest
is refused with a reason, and every refusal is kept on the batch."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import QuotaResource
from apps.accounts.quotas import quota_check
from apps.audit.services import audit_record
from apps.installs import actions
from apps.installs.models import Batch, Device, DeviceState, OperatingSystem
from apps.installs.services.orders import device_create
from apps.installs.services.reservations import free_servers

MAX_BATCH = 100
INDEX = re.compile(r"\{\{\s*index\s*\}\}")


@dataclass
class BatchSpec:
    """One entry of a batch request: `quantity` devices like this (hostnames from `hostnames`, or `hostname`
    with an `{{index}}` placeholder, 01, 02 …)."""

    quantity: int
    plan: Any
    operating_system: OperatingSystem
    facility: Any = None
    metro: Any = None
    hostname: str = ""
    hostnames: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # the rest of device_create's arguments

    def names(self) -> list[str]:
        if self.hostnames:
            return list(self.hostnames)
        template = self.hostname if INDEX.search(self.hostname) else f"{self.hostname}-{{{{index}}}}"
        return [INDEX.sub(f"{index:02d}", template) for index in range(1, self.quantity + 1)]


def device_batch_create(*, project: Any, specs: list[BatchSpec], actor: Any = None) -> list[Batch]:
    """Order every spec's devices; one Batch per spec with the devices made and the reasons for the others."""
    for number, spec in enumerate(specs, start=1):
        if not 1 <= spec.quantity <= MAX_BATCH:
            raise ValidationError({"quantity": f"Batch {number}: a batch orders 1 to {MAX_BATCH} devices."})
        if spec.hostnames and len(spec.hostnames) != spec.quantity:
            raise ValidationError({"hostnames": f"Batch {number}: {len(spec.hostnames)} hostnames for a quantity of {spec.quantity}."})
        if not spec.hostnames and not spec.hostname:
            raise ValidationError({"hostname": f"Batch {number}: give hostnames, or a hostname (with {{{{index}}}})."})
        if spec.facility is None and spec.metro is None:
            raise ValidationError({"facility": f"Batch {number}: give a facility or a metro."})
    with transaction.atomic():
        # The whole request against the device quota first, under the organization's lock: a batch that would
        # pass it orders nothing (422 naming the limit) rather than a part.
        quota_check(project=project, resource=QuotaResource.DEVICES, adding=sum(spec.quantity for spec in specs))
        return [_batch_order(project=project, spec=spec, actor=actor) for spec in specs]


def _batch_order(*, project: Any, spec: BatchSpec, actor: Any) -> Batch:
    with transaction.atomic():
        free = free_servers(plan=spec.plan, facility=spec.facility, metro=spec.metro)
        made: list[Device] = []
        errors: list[str] = []
        where = spec.facility.code if spec.facility is not None else f"metro {spec.metro.code}"
        for hostname in spec.names():
            if len(made) >= free:
                errors.append(f"{hostname}: no {spec.plan.slug} server is left in {where} for this batch "
                              f"({free} available when it was ordered).")
                continue
            try:
                with transaction.atomic():
                    made.append(device_create(project=project, hostname=hostname, plan=spec.plan, operating_system=spec.operating_system,
                                              facility=spec.facility, metro=spec.metro, actor=actor, **spec.options))
            except ValidationError as exc:
                errors.append(f"{hostname}: " + " ".join(exc.messages))
        state = "completed" if not errors else ("failed" if not made else "partial")
        batch = Batch.objects.create(project=project, quantity=spec.quantity, state=state, error_messages=errors,
                                     created_by=actor if getattr(actor, "is_authenticated", False) else None)
        Device.objects.filter(pk__in=[device.pk for device in made]).update(batch=batch)
        audit_record(action="installs.batch.create", target=batch, actor=actor,
                     changes={"quantity": [None, spec.quantity], "created": [None, len(made)], "refused": [None, len(errors)]})
    return batch


def batch_delete(*, batch: Batch, remove_devices: bool, actor: Any, user: Any = None, token: Any = None) -> int:
    """Delete a batch; with `remove_devices`, first delete its live devices (each through the delete action, with
    its permission and state checks). Returns how many devices were deleted."""
    removed = 0
    if remove_devices:
        for device in batch.devices.exclude(state__in=[DeviceState.DELETED, DeviceState.DEPROVISIONING]).order_by("hostname"):
            actions.perform("delete", device=device, actor=actor, user=user, token=token, reason=f"batch {batch.pk} deleted")
            removed += 1
    with transaction.atomic():
        audit_record(action="installs.batch.delete", target=batch, actor=actor, changes={"devices_deleted": [None, removed]})
        batch.delete()
    return removed
