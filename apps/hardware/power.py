"""Power services: power actions and boot-device changes on a server through its BMC, with retries
for retryable errors only, every attempt recorded as a PowerEvent and each action in the audit log;
reads of the power state; and the power-state sync that compares the platform's belief with every
BMC's answer, talking to many BMCs at once so that dead ones delay nobody.

Device I/O happens here only through apps.hardware.drivers, never inside a database transaction."""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.hardware.drivers import BmcError, BmcTarget, BootDevice, PowerState, driver_for
from apps.hardware.models import BMC, Server
from apps.hardware.power_models import PowerAction, PowerEvent, PowerOutcome
from project.tasks import enqueue_for_facility

# What the platform believes after a successful action (soft off is only a request to the OS).
EXPECTED_STATE = {
    PowerAction.ON: PowerState.ON,
    PowerAction.OFF: PowerState.OFF,
    PowerAction.CYCLE: PowerState.ON,
    PowerAction.RESET: PowerState.ON,
}
DRIVER_ACTIONS = {
    PowerAction.ON: "on",
    PowerAction.OFF: "off",
    PowerAction.SOFT_OFF: "soft_off",
    PowerAction.CYCLE: "cycle",
    PowerAction.RESET: "reset",
}
BOOT_ACTIONS = {PowerAction.BOOT_NETWORK: BootDevice.NETWORK, PowerAction.BOOT_DISK: BootDevice.DISK}


class NoUsableBmc(Exception):
    """The server has no BMC record, or its port is not assigned yet (the API answers 409)."""

    api_status = 409


@dataclass
class _Outcome:
    error: BmcError | None
    duration_ms: int
    observed: PowerState | None = None
    learned_fingerprint: str | None = None


def worker_label() -> str:
    """Which worker did the call: the django-q2 cluster (facility) name, host and pid."""
    from django_q.conf import Conf

    return f"{Conf.CLUSTER_NAME}@{socket.gethostname()}:{os.getpid()}"


def bmc_of(server: Server) -> BMC:
    bmc = BMC.objects.filter(server=server).first()
    if bmc is None:
        raise NoUsableBmc(f"Server {server.serial} has no BMC record: add one (protocol, host, credentials) before power actions.")
    if bmc.port == 0:
        raise NoUsableBmc(
            f"The BMC of server {server.serial} has no port yet (0 is the lab's placeholder): start the lab "
            "(`python manage.py lab`, or `make run`) or set the BMC's real port."
        )
    return bmc


def bmc_target(bmc: BMC, *, timeout: float | None = None) -> BmcTarget:
    # The password is decrypted here, handed to the driver, and never stored or logged.
    return BmcTarget(
        protocol=bmc.protocol,
        host=bmc.host,
        port=bmc.port,
        username=bmc.username,
        password=bmc.password,
        cert_fingerprint=bmc.cert_fingerprint,
        timeout=settings.BMC_TIMEOUT if timeout is None else timeout,
    )


def _call(driver: Any, action: str) -> _Outcome:
    """One action on an open driver (its session is reused by the next action; a failed call drops it)."""
    started = time.monotonic()
    observed = None
    try:
        if action in (PowerAction.READ, PowerAction.SYNC):
            observed = driver.power_state()
        elif action in BOOT_ACTIONS:
            # Network boot is a one-time override (an install); disk is the steady state and
            # stays, so a later reboot does not fall back to the firmware's network-first order.
            device = BOOT_ACTIONS[PowerAction(action)]
            driver.set_boot_device(device, persistent=device == BootDevice.DISK)
        else:
            driver.perform(DRIVER_ACTIONS[PowerAction(action)])
        error = None
    except BmcError as exc:
        error = exc
    return _Outcome(error, int((time.monotonic() - started) * 1000), observed, driver.learned_fingerprint)


def _call_once(target: BmcTarget, action: str) -> _Outcome:
    with driver_for(target) as driver:
        return _call(driver, action)


def _give_up_text(action: str, attempts: int, error: BmcError) -> str:
    label = PowerAction(action).label
    if error.retryable:
        return (f"{label} failed after {attempts} attempt(s), last at {timezone.now():%Y-%m-%d %H:%M:%S} UTC: {error.message}. "
                "The BMC did not answer usefully: check its management network and power, then retry.")
    return f"{label} failed at {timezone.now():%Y-%m-%d %H:%M:%S} UTC and was not retried: {error}"


def _record(*, bmc: BMC, action: str, outcome: _Outcome, result: str, attempt: int, source: str, actor: Any,
            message: str = "") -> PowerEvent:
    now = timezone.now()
    updates: dict[str, Any] = {}
    if outcome.error is None:
        updates["last_error"] = ""
        state = outcome.observed or EXPECTED_STATE.get(PowerAction(action))
        if state is not None:
            updates["power_state"], updates["power_state_at"] = str(state), now
        if outcome.learned_fingerprint and not bmc.cert_fingerprint:
            updates["cert_fingerprint"] = outcome.learned_fingerprint
    elif result != PowerOutcome.RETRYABLE:
        updates["last_error"] = message
    if updates:
        BMC.objects.filter(pk=bmc.pk).update(**updates)
        for name, value in updates.items():
            setattr(bmc, name, value)
    return PowerEvent.objects.create(
        server_id=bmc.server_id,
        action=action,
        outcome=result,
        attempt=attempt,
        duration_ms=outcome.duration_ms,
        protocol=bmc.protocol,
        error_code=outcome.error.code if outcome.error else "",
        message=message or (str(outcome.error) if outcome.error else ""),
        power_state=str(outcome.observed or ""),
        source=source,
        worker=worker_label(),
        actor=actor if getattr(actor, "pk", None) else None,
    )


def server_power(
    *,
    server: Server,
    action: str,
    actor: Any = None,
    source: str = "task",
    attempts: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PowerEvent:
    """Run one power action (or boot-device change, or read) on the server's BMC now, retrying
    retryable failures with exponential backoff. Returns the last attempt's event; on giving up
    the reason is on the BMC record (`last_error`) for staff to see."""
    return server_power_many(server=server, actions=[action], actor=actor, source=source, attempts=attempts, backoff=backoff,
                             timeout=timeout, sleep=sleep)[0]


def server_power_many(
    *,
    server: Server,
    actions: Sequence[str],
    actor: Any = None,
    source: str = "task",
    attempts: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PowerEvent]:
    """Several actions in order over one BMC session — one login instead of one per action, which
    is most of what a BMC call costs both ends (the install workflow's "boot from network, power
    off" and "boot from disk, off, on"). Each action is retried and recorded exactly as
    server_power does; the sequence stops after an action that gave up or was refused, and the
    events of the actions that ran are returned in order."""
    actions = [PowerAction(action) for action in actions]
    bmc = bmc_of(server)
    attempts = max(1, settings.BMC_ATTEMPTS if attempts is None else attempts)
    backoff = settings.BMC_BACKOFF if backoff is None else backoff
    events: list[PowerEvent] = []
    with driver_for(bmc_target(bmc, timeout=timeout)) as driver:
        for action in actions:
            event = _attempt(driver, bmc=bmc, server=server, action=action, actor=actor, source=source, attempts=attempts,
                             backoff=backoff, sleep=sleep)
            events.append(event)
            if event.outcome != PowerOutcome.OK:
                break
    return events


def _attempt(driver: Any, *, bmc: BMC, server: Server, action: str, actor: Any, source: str, attempts: int, backoff: float,
             sleep: Callable[[float], None]) -> PowerEvent:
    for attempt in range(1, attempts + 1):
        outcome = _call(driver, action)
        error = outcome.error
        if error is None:
            result, message = PowerOutcome.OK, ""
        elif not error.retryable:
            result, message = PowerOutcome.FATAL, _give_up_text(action, attempt, error)
        elif attempt == attempts:
            result, message = PowerOutcome.GAVE_UP, _give_up_text(action, attempt, error)
        else:
            result, message = PowerOutcome.RETRYABLE, ""
        with transaction.atomic():
            event = _record(bmc=bmc, action=action, outcome=outcome, result=result, attempt=attempt, source=source,
                            actor=actor, message=message)
            if result != PowerOutcome.RETRYABLE:
                audit_record(
                    action=f"hardware.server.power.{action}",
                    target=server,
                    changes={"outcome": [None, result], "attempts": [None, attempt], "duration_ms": [None, outcome.duration_ms]},
                    reason=message,
                    actor=actor,
                )
        if result != PowerOutcome.RETRYABLE:
            return event
        sleep(backoff * (2 ** (attempt - 1)))
    raise AssertionError("unreachable: the last attempt always returns")


def server_power_request(*, server: Server, action: str, actor: Any = None, source: str = "admin") -> None:
    """Queue a power action for the server's facility worker, once the caller's transaction commits."""
    action = PowerAction(action)
    bmc_of(server)  # refuse at once (409) rather than fail later in a worker
    server_id, actor_id, facility_code = str(server.pk), getattr(actor, "pk", None), server.facility.code
    transaction.on_commit(lambda: enqueue_for_facility(
        "apps.hardware.tasks.power_action_task", server_id, str(action), actor_id, source, facility_code=facility_code,
    ))


def power_state_read_request(*, server_ids: list[Any], source: str = "admin") -> list[str]:
    """Queue a power-state read of these servers, one task per facility on its cluster, once the
    caller commits. Returns the facility codes."""
    by_facility: dict[str, list[str]] = {}
    for server_id, code in Server.objects.filter(pk__in=server_ids).values_list("pk", "facility__code"):
        by_facility.setdefault(code, []).append(str(server_id))
    for code, ids in sorted(by_facility.items()):
        transaction.on_commit(lambda code=code, ids=ids: enqueue_for_facility(
            "apps.hardware.tasks.power_state_sync_task", code, ids, source, facility_code=code))
    return sorted(by_facility)


def bmc_serial_read(*, server: Server, timeout: float | None = None) -> str:
    """The machine's serial number as its BMC reports it (IPMI FRU 0, Redfish SerialNumber), one attempt;
    '' when the BMC has none. Raises NoUsableBmc, or the driver's typed BmcError (retryable or fatal)."""
    with driver_for(bmc_target(bmc_of(server), timeout=timeout)) as driver:
        return driver.system_serial()


def power_state_read(*, server: Server, actor: Any = None, source: str = "admin", timeout: float | None = None) -> PowerEvent:
    """Ask the BMC now (one attempt); the answer lands on the BMC record and in a PowerEvent."""
    return server_power(server=server, action=PowerAction.READ, actor=actor, source=source, attempts=1, timeout=timeout)


@dataclass
class SyncReport:
    facility: str | None
    checked: int = 0
    ok: int = 0
    drift: list[str] = field(default_factory=list)  # server ids whose BMC disagreed with the platform
    failed: list[str] = field(default_factory=list)  # server ids whose BMC did not answer usefully
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"facility": self.facility, "checked": self.checked, "ok": self.ok, "drift": self.drift,
                "failed": self.failed, "seconds": round(self.seconds, 3)}


def power_state_sync(*, facility_code: str | None = None, server_ids: list[Any] | None = None, concurrency: int | None = None,
                     timeout: float | None = None, source: str = "sync") -> SyncReport:
    """Read every BMC's power state (of one facility, or all), at most `concurrency` at a time, each
    read bounded by `timeout` and retried once if it failed retryably: N BMCs take about
    ceil(N / concurrency) reads, and a dead BMC costs two timeouts in one slot. Records drift and
    failures as events and on the BMC records."""
    started = time.monotonic()
    report = SyncReport(facility=facility_code)
    bmcs = BMC.objects.select_related("server").exclude(port=0).order_by("pk")
    if facility_code:
        bmcs = bmcs.filter(server__facility__code=facility_code)
    if server_ids is not None:
        bmcs = bmcs.filter(server_id__in=server_ids)
    bmcs = list(bmcs)
    if not bmcs:
        return report
    read_at = {bmc.pk: bmc.power_state_at for bmc in bmcs}
    targets = [bmc_target(bmc, timeout=timeout) for bmc in bmcs]
    workers = max(1, min(settings.BMC_SYNC_CONCURRENCY if concurrency is None else concurrency, len(bmcs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="power-sync") as pool:
        outcomes = list(pool.map(lambda target: _call_once(target, PowerAction.SYNC), targets))
        # IPMI is UDP and BMCs drop packets when busy: ask the ones that failed retryably once more
        # before flagging them. A dead BMC costs two timeouts in one slot, never more.
        again = [i for i, outcome in enumerate(outcomes) if outcome.error is not None and outcome.error.retryable]
        for i, outcome in zip(again, pool.map(lambda i: _call_once(targets[i], PowerAction.SYNC), again), strict=True):
            outcome.duration_ms += outcomes[i].duration_ms
            outcomes[i] = outcome
    now, label = timezone.now(), worker_label()
    events, changed = [], []
    for bmc, outcome in zip(bmcs, outcomes, strict=True):
        report.checked += 1
        server_id = str(bmc.server_id)
        if outcome.error is not None:
            report.failed.append(server_id)
            bmc.last_error = f"Power-state sync at {now:%Y-%m-%d %H:%M:%S} UTC: {outcome.error}"
            result, message = (PowerOutcome.GAVE_UP if outcome.error.retryable else PowerOutcome.FATAL), bmc.last_error
        else:
            observed = str(outcome.observed)
            believed = bmc.power_state
            if believed in (PowerState.ON, PowerState.OFF) and believed != observed:
                report.drift.append(server_id)
                result, message = PowerOutcome.DRIFT, f"The platform believed the server was {believed}; the BMC says {observed}."
            else:
                report.ok += 1
                result, message = PowerOutcome.OK, ""
            bmc.power_state, bmc.power_state_at, bmc.last_error = observed, now, ""
            if outcome.learned_fingerprint and not bmc.cert_fingerprint:
                bmc.cert_fingerprint = outcome.learned_fingerprint
        changed.append(bmc)
        events.append(PowerEvent(
            server_id=bmc.server_id, action=PowerAction.SYNC, outcome=result, attempt=1, duration_ms=outcome.duration_ms,
            protocol=bmc.protocol, error_code=outcome.error.code if outcome.error else "", message=message,
            power_state=str(outcome.observed or ""), source=source, worker=label,
        ))
    report.seconds = time.monotonic() - started
    with transaction.atomic():
        for bmc in changed:
            # Only if nothing else (a power action) wrote the row since it was read: never overwrite
            # a newer state with this older reading.
            BMC.objects.filter(pk=bmc.pk, power_state_at=read_at[bmc.pk]).update(
                power_state=bmc.power_state, power_state_at=bmc.power_state_at, last_error=bmc.last_error,
                cert_fingerprint=bmc.cert_fingerprint)
        PowerEvent.objects.bulk_create(events, batch_size=500)
        audit_record(action="hardware.power.sync", target=None, reason=f"power-state sync of {facility_code or 'all facilities'}",
                     changes={"checked": [None, report.checked], "drift": [None, len(report.drift)], "failed": [None, len(report.failed)]})
    return report
