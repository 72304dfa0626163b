"""Every write of the installs app: ordering, reinstalling and deleting devices, and the install
workflow — platform steps run by tasks, waits ended by the machine's own calls or by the watchdog.

A run is a list of steps (WORKFLOWS). `install_advance()` runs platform steps one after another
until it reaches a wait for the machine; each step is idempotent, so a step that a killed worker
left half done is simply run again. The watchdog (`installs_watchdog()`, scheduled every minute)
ends waits that are overdue and resumes steps whose worker vanished.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record, snapshot
from apps.installs.models import (
    EVENT_TYPES,
    Device,
    DeviceState,
    DiscoveredMachine,
    EventSource,
    Install,
    InstallEvent,
    InstallKind,
    InstallState,
    OperatingSystem,
)
from project.states import transition

log = logging.getLogger(__name__)


class InstallError(Exception):
    """A step failed for good; the message is the install's readable failure reason."""


class RetryLater(Exception):
    """A step failed in a way that may pass (a BMC that did not answer): run it again after a pause."""


class MachineCallRejected(Exception):
    """A call from a machine that does not fit its install's current step (answered with 409)."""


# ---------------------------------------------------------------------------------------------- settings


def step_timeout(step: str) -> int:
    return int(settings.INSTALL_STEP_TIMEOUTS.get(step, settings.INSTALL_STEP_TIMEOUTS["default"]))


# ---------------------------------------------------------------------------------------------- events


def install_event_add(*, install: Install, type: str, body: str = "", source: str = EventSource.PLATFORM,
                      at: dt.datetime | None = None) -> InstallEvent:
    """Append one event to the timeline (the body defaults to the type's standard text)."""
    body = (body or EVENT_TYPES.get(type, ("", 0))[0])[:500]
    return InstallEvent.objects.create(install=install, type=type, body=body, source=source, created_at=at or timezone.now())


# ---------------------------------------------------------------------------------------------- orders


def _enqueue(install: Install) -> None:
    """Run the install's next platform steps on a worker (its facility's, once the server is known),
    after the caller's transaction commits."""
    _enqueue_id(install.pk, install.server.facility.code if install.server is not None else None)


def _enqueue_id(install_id: Any, facility_code: str | None) -> None:
    from apps.hardware.tasks import enqueue_for_facility

    install_id = str(install_id)
    transaction.on_commit(lambda: enqueue_for_facility(
        "apps.installs.tasks.install_advance", install_id, facility_code=facility_code,
        task_name=f"install-{install_id}-{time.monotonic_ns()}", group="installs"))


def installs_admit() -> int:
    """Start queued runs, oldest first, while fewer than INSTALL_MAX_STARTING are in their first
    steps. Called after every order and whenever a run leaves its first steps; returns how many."""
    return _admit(keep_first=False)[0]


def _start_phase_over(install: Install, *, keep_next: bool = False) -> Any | None:
    """The run waits for its machine or has ended: its admission slot goes to the next queued run.
    With keep_next, that run's id is returned for the caller to run (and not sent to the queue).
    Freeing the slot and filling it are one step under the admission lock, so that no order's
    admission (in a web worker, whose hand-off to the task queue may be slow) takes it in between."""
    return _admit(keep_first=keep_next, release=install.pk)[1]


def _admit(*, keep_first: bool, release: Any = None) -> tuple[int, Any | None]:
    """Admit what the free slots allow (after freeing `release`'s slot; nothing if it held none).
    With keep_first the oldest admitted run is not sent to the task queue but its id returned: the
    caller, a worker whose run just gave its slot up, runs it itself."""
    from django.db import connection

    if connection.vendor == "postgresql":
        # One round trip: installs_admit() (migration 0004) does what _admit_rows() does below.
        with connection.cursor() as cursor:
            cursor.execute("SELECT install_id, facility_code FROM installs_admit(%s, %s::uuid)",
                           [settings.INSTALL_MAX_STARTING, str(release) if release is not None else None])
            admitted = cursor.fetchall()
    else:
        admitted = _admit_rows(release)
    kept = admitted.pop(0)[0] if keep_first and admitted else None
    for install_id, facility_code in admitted:
        _enqueue_id(install_id, facility_code)
    return len(admitted) + (kept is not None), kept


def _admit_rows(release: Any) -> list[tuple[Any, str | None]]:
    """Admission where there is no installs_admit() (SQLite, which serialises writers anyway)."""
    with transaction.atomic():
        if release is not None and not Install.objects.filter(pk=release, starting=True).update(starting=False):
            return []
        free = settings.INSTALL_MAX_STARTING - Install.objects.filter(starting=True).count()
        if free <= 0:
            return []
        admitted = list(Install.objects.filter(state=InstallState.QUEUED, starting=False).order_by("created_at")
                        .values_list("pk", "server__facility__code")[:free])
        Install.objects.filter(pk__in=[pk for pk, _ in admitted]).update(starting=True, admitted_at=timezone.now())
    return admitted


def device_create(*, project: Any, hostname: str, plan: Any, operating_system: OperatingSystem, facility: Any = None,
                  metro: Any = None, ssh_keys: list[str] | None = None, userdata: str = "", tags: list[str] | None = None,
                  description: str = "", public_ipv4_subnet_size: int = 31, actor: Any = None) -> Device:
    """Order a device: checks the order, records it `queued` and starts its provisioning run."""
    from apps.hardware.models import Server

    if facility is None and metro is None:
        raise ValidationError({"facility": "Give a facility or a metro."})
    if metro is None:
        metro = facility.metro
    elif facility is not None and facility.metro_id != metro.pk:
        raise ValidationError({"facility": f"Facility {facility.code} is not in metro {metro.code}."})
    if not operating_system.provisionable:
        raise ValidationError({"operating_system": f"{operating_system.slug} can no longer be ordered."})
    if not operating_system.plans.filter(pk=plan.pk).exists():
        allowed = ", ".join(operating_system.plans.values_list("slug", flat=True)) or "none"
        raise ValidationError({"operating_system": f"{operating_system.slug} cannot be installed on {plan.slug} (it can on: {allowed})."})
    pool = Server.objects.filter(plan=plan, state="ready")
    pool = pool.filter(facility=facility) if facility is not None else pool.filter(facility__metro=metro)
    if not pool.exists():
        where = facility.code if facility is not None else f"metro {metro.code}"
        raise ValidationError({"plan": f"No {plan.slug} server is available in {where} right now; try another facility or plan."})
    with transaction.atomic():
        device = Device(project=project, hostname=hostname, plan=plan, metro=metro, facility=facility,
                        operating_system=operating_system, ssh_keys=list(ssh_keys or []), userdata=userdata,
                        tags=list(tags or []), description=description, public_ipv4_subnet_size=public_ipv4_subnet_size,
                        created_by=actor if getattr(actor, "is_authenticated", False) else None)
        # The related rows are the instances the caller looked up, and the table's constraints (and its
        # fresh UUID key) hold in the database itself: validate the fields without a query each.
        device.full_clean(exclude=["server", "created_by", "project", "plan", "metro", "facility", "operating_system"],
                          validate_unique=False, validate_constraints=False)
        device.save()
        Install.objects.create(kind=InstallKind.PROVISION, device=device, operating_system=operating_system)
        audit_record(action="installs.device.create", target=device, changes={k: [None, v] for k, v in snapshot(device).items()}, actor=actor)
        transaction.on_commit(installs_admit)
    return device


def device_reinstall(*, device: Device, operating_system: OperatingSystem | None = None, actor: Any = None,
                     reason: str = "") -> Install:
    """Reinstall on the same server with the same addresses (optionally another operating system)."""
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        if device.server_id is None:
            raise ValidationError({"device": "This device has no server to reinstall; delete it and order a new one."})
        os_ = operating_system or device.operating_system
        if not os_.plans.filter(pk=device.plan_id).exists():
            raise ValidationError({"operating_system": f"{os_.slug} cannot be installed on {device.plan.slug}."})
        transition(device, DeviceState.REINSTALLING, actor=actor, reason=reason or "reinstall requested")
        if os_.pk != device.operating_system_id:
            Device.objects.filter(pk=device.pk).update(operating_system=os_)
            device.operating_system = os_
        install = Install.objects.create(kind=InstallKind.REINSTALL, device=device, server=device.server, operating_system=os_)
        transaction.on_commit(installs_admit)
    return install


def device_delete(*, device: Device, actor: Any = None, reason: str = "") -> Install | None:
    """Delete a device: power off, wipe, isolate the port, release the addresses, server back to the pool."""
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        open_run = device.installs.filter(state__in=Install.OPEN).first()
        if open_run is not None:
            install_fail(install=open_run, reason="cancelled: the device is being deleted", actor=actor, cleanup=False)
            device.refresh_from_db()
        transition(device, DeviceState.DEPROVISIONING, actor=actor, reason=reason or "delete requested")
        if device.server_id is None:
            transition(device, DeviceState.DELETED, actor=actor, reason="no server was held")
            return None
        install = Install.objects.create(kind=InstallKind.DEPROVISION, device=device, server=device.server)
        transaction.on_commit(installs_admit)
    return install


def server_commission(*, server: Any, actor: Any = None) -> Install:
    """Netboot a `new` server into the discovery image; its inventory goes to the hardware commissioning check."""
    with transaction.atomic():
        install = Install.objects.create(kind=InstallKind.COMMISSIONING, server=server)
        transaction.on_commit(installs_admit)
    return install


# ---------------------------------------------------------------------------------------------- the workflow

WAITS = frozenset({"wait_ipxe", "wait_phone_home", "wait_first_boot", "wait_inventory"})
WORKFLOWS: dict[str, tuple[str, ...]] = {
    InstallKind.PROVISION: ("pick_server", "addresses", "port", "netboot", "wait_ipxe", "wait_phone_home", "boot_disk",
                            "wait_first_boot", "done"),
    InstallKind.REINSTALL: ("begin_reinstall", "port", "netboot", "wait_ipxe", "wait_phone_home", "boot_disk",
                            "wait_first_boot", "done"),
    InstallKind.DEPROVISION: ("begin_deprovision", "netboot", "wait_ipxe", "wait_phone_home", "power_off", "release", "done"),
    InstallKind.COMMISSIONING: ("begin_commissioning", "netboot", "wait_ipxe", "wait_inventory", "done"),
}


# Steps that talk to the server's BMC or switch: they run on the facility's own cluster, if it has one.
DEVICE_STEPS = frozenset({"port", "netboot", "boot_disk", "power_off", "release"})


def _belongs_to_another_cluster(install: Install) -> bool:
    from django_q.conf import Conf

    from apps.hardware.tasks import facility_cluster

    if Conf.SYNC or install.server is None:
        return False  # tasks run inline (tests, a single-process setup): there is nowhere to hand over to
    cluster = facility_cluster(install.server.facility.code)
    return cluster is not None and cluster != Conf.CLUSTER_NAME


def _next_step(install: Install) -> str:
    steps = WORKFLOWS[install.kind]
    return steps[steps.index(install.step) + 1]


def _move(install: Install, *, from_step: str, to_step: str, **fields: Any) -> bool:
    """Compare-and-set the step: False if another worker (or the watchdog) moved it first."""
    deadline = timezone.now() + dt.timedelta(seconds=step_timeout(to_step))
    updated = Install.objects.filter(pk=install.pk, step=from_step, state=InstallState.RUNNING).update(
        step=to_step, step_attempts=0, deadline=deadline, **fields)
    if updated:
        install.step, install.step_attempts, install.deadline = to_step, 0, deadline
        for key, value in fields.items():
            setattr(install, key, value)
    return bool(updated)


def install_advance(*, install_id: Any, max_steps: int = 20) -> Install:
    """Run platform steps until the run waits for its machine, finishes or fails (what the task calls).

    When the run gives its admission slot up, this worker goes on with the run it admits in its
    place instead of sending that one through the task queue: the hand-off would only add a queue's
    latency (seconds in a burst of orders) to the next run. Bounded by INSTALL_INLINE_SECONDS, so
    one task never runs for long; past it, the next run goes through the queue as usual."""
    started = time.monotonic()
    first = install = _advance(install_id, max_steps)
    while install.state != InstallState.RUNNING or install.step in WAITS:
        keep_next = time.monotonic() - started < settings.INSTALL_INLINE_SECONDS
        next_id = _start_phase_over(install, keep_next=keep_next)
        if next_id is None:
            break
        install = _advance(next_id, max_steps)
    return first


def _advance(install_id: Any, max_steps: int) -> Install:
    install = Install.objects.select_related("device", "server").get(pk=install_id)
    for _ in range(max_steps):
        if install.state == InstallState.QUEUED:
            with transaction.atomic():
                loaded = install
                install = transition(install, InstallState.RUNNING, reason="worker picked it up")
                install.device, install.server = loaded.device, loaded.server  # read with it above
                install.step = WORKFLOWS[install.kind][0]
                install.started_at = timezone.now()
                install.deadline = install.started_at + dt.timedelta(seconds=step_timeout(install.step))
                install.save(update_fields=["step", "started_at", "deadline"])
                if install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
                    install_event_add(install=install, type="provisioning.101")
        if install.state != InstallState.RUNNING or install.step in WAITS:
            return install
        step = install.step
        if step in DEVICE_STEPS and _belongs_to_another_cluster(install):
            # The facility's BMCs and switches are reachable only from its own workers (the run
            # started on the default cluster before it knew its server): hand the rest over.
            _enqueue(install)
            return install
        # Claim this attempt: a second worker that resumes it later sees the attempt count.
        attempts = install.step_attempts + 1
        Install.objects.filter(pk=install.pk, step=step).update(
            step_attempts=attempts, deadline=timezone.now() + dt.timedelta(seconds=step_timeout(step)))
        install.step_attempts = attempts
        try:
            STEPS[step](install)
        except RetryLater as exc:
            if attempts >= settings.INSTALL_STEP_MAX_ATTEMPTS:
                return install_fail(install=install, reason=f"step '{step}' failed {attempts} times; last: {exc}")
            # The watchdog resumes it once the pause is over.
            Install.objects.filter(pk=install.pk, step=step).update(
                deadline=timezone.now() + dt.timedelta(seconds=settings.INSTALL_RETRY_PAUSE * attempts))
            log.warning("install %s step %s will be retried: %s", install.pk, step, exc)
            return install
        except (InstallError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return install_fail(install=install, reason=f"{step}: {message}")
        except Exception as exc:
            log.exception("install %s step %s raised", install.pk, step)
            return install_fail(install=install, reason=f"{step}: unexpected error {type(exc).__name__}: {exc}")
        install.refresh_from_db()
        if install.state != InstallState.RUNNING:
            return install
        if install.step == step and step != "done":
            _move(install, from_step=step, to_step=_next_step(install))
        elif install.step == "done":
            return install
    return install


def _device_transition(device: Device | None, target: str, reason: str) -> None:
    if device is not None and device.state != target:
        transition(device, target, reason=reason)


def _server_transition(server: Any, target: str, reason: str) -> None:
    from apps.hardware.services import server_transition

    server.refresh_from_db(fields=["state"])
    if server.state != target:
        server_transition(server=server, to=target, actor=None, reason=reason)


def _step_pick_server(install: Install) -> None:
    from apps.hardware.models import Server
    from apps.hardware.services import server_transition

    device = install.device
    assert device is not None
    if install.server_id is not None:
        return
    with transaction.atomic():
        # of=("self",): lock only the server rows, never the facility rows a metro order joins.
        pool = Server.objects.select_for_update(skip_locked=True, of=("self",)).filter(plan_id=device.plan_id, state="ready")
        pool = pool.filter(facility_id=device.facility_id) if device.facility_id else pool.filter(facility__metro_id=device.metro_id)
        server = pool.order_by("facility_id", "rack_id", "position_u", "serial").first()
        if server is None:
            where = device.facility.code if device.facility_id else f"metro {device.metro.code}"
            raise InstallError(f"no ready {device.plan.slug} server is left in {where}")
        # Just read under its lock: no need to read its state again as _server_transition would.
        server_transition(server=server, to="allocated", actor=None, reason=f"picked for device {device.hostname} ({device.pk})")
        Device.objects.filter(pk=device.pk).update(server=server)
        Install.objects.filter(pk=install.pk).update(server=server)
        device.server = server
        install.server = server
        _device_transition(device, DeviceState.PROVISIONING, f"server {server.serial} picked")


def _step_addresses(install: Install) -> None:
    from apps.ipam.selectors import server_addresses
    from apps.ipam.services import server_addresses_assign

    device, server = install.device, install.server
    assert device is not None and server is not None
    if list(server_addresses(server)):
        return
    server_addresses_assign(server=server, project=device.project, device_id=device.pk, device_label=device.hostname,
                            public_ipv4_prefix=device.public_ipv4_subnet_size, actor=None)


def _step_port(install: Install) -> None:
    _port_apply(install, reason=f"{install.kind} {install.pk}")
    if install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
        install_event_add(install=install, type="provisioning.102")


@contextmanager
def _device_wait(install: Install) -> Iterator[None]:
    """Add the time spent inside to the run's device_seconds (one UPDATE, outside any lock)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        Install.objects.filter(pk=install.pk).update(device_seconds=F("device_seconds") + (time.perf_counter() - started))


def _port_apply(install: Install, *, reason: str) -> None:
    with _device_wait(install):
        _port_apply_waited(install, reason=reason)


def _port_apply_waited(install: Install, *, reason: str) -> None:
    """Set the server's port to its desired state (from the server's state and addresses) and see it
    applied, bounded by the port step's time limit. Pushes batch every pending port of a switch in
    one commit; asking for a push again is harmless (nothing pending: nothing done), and covers a
    change that arrived just as another worker's push finished its last round."""
    from apps.network.services import port_change_wait, port_configure_for_server, switch_push

    change = port_configure_for_server(server=install.server, actor=None, reason=reason, schedule=False)
    deadline = time.monotonic() + step_timeout("port")
    for _ in range(1000):
        for switch_id in change.switch_ids:
            switch_push(switch_id=switch_id)
        outcome = port_change_wait(change, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        if outcome.done:
            return
        if outcome.failed or time.monotonic() >= deadline:
            raise RetryLater(outcome.error or "the switch did not apply the port configuration")
    raise RetryLater("the switch did not apply the port configuration")


def _power(install: Install, *actions: str) -> None:
    """Run BMC actions in order ("boot_network", "boot_disk", "on", "off"); the hardware app retries
    what may pass and records every call. A BMC that gave up is retried later; a refusal fails."""
    with _device_wait(install):
        _power_waited(install, *actions)


def _power_waited(install: Install, *actions: str) -> None:
    from apps.hardware.power import NoUsableBmc, server_power_many

    try:
        events = server_power_many(server=install.server, actions=actions, actor=None, source="install")
    except NoUsableBmc as exc:
        raise InstallError(str(exc)) from exc
    for action, event in zip(actions, events, strict=False):
        if event.outcome == "gave_up":
            raise RetryLater(event.message or f"BMC did not answer {action}")
        if event.outcome == "fatal":
            raise InstallError(f"BMC refused {action}: {event.message}")


def _step_netboot(install: Install) -> None:
    server = install.server
    if install.kind == InstallKind.PROVISION:
        _server_transition(server, "provisioning", f"install {install.pk}")
    # Off then on rather than a cycle: real BMCs refuse a cycle when the server is off.
    _power(install, "boot_network", "off")
    if install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
        install_event_add(install=install, type="provisioning.103")
    # Wait for the machine before powering it on: a fast machine may ask for its script at once.
    _move(install, from_step="netboot", to_step="wait_ipxe")
    try:
        _power(install, "on")
    except RetryLater as exc:
        raise InstallError(f"power on: {exc}") from exc


def _step_begin_reinstall(install: Install) -> None:
    _server_transition(install.server, "provisioning", f"reinstall {install.pk}")


def _step_begin_deprovision(install: Install) -> None:
    _server_transition(install.server, "deprovisioning", f"deprovision {install.pk}")


def _step_begin_commissioning(install: Install) -> None:
    _server_transition(install.server, "commissioning", f"commissioning {install.pk}")


def _step_boot_disk(install: Install) -> None:
    _power(install, "boot_disk", "off")
    # As for the netboot: wait for the installed system before powering on; it may call home at once.
    _move(install, from_step="boot_disk", to_step="wait_first_boot")
    try:
        _power(install, "on")
    except RetryLater as exc:
        raise InstallError(f"power on from disk: {exc}") from exc


def _step_power_off(install: Install) -> None:
    _power(install, "off")


def _step_release(install: Install) -> None:
    from apps.ipam.services import server_addresses_release

    server = install.server
    _server_transition(server, "cleaning", f"wiped by {install.pk}")
    server_addresses_release(server=server, actor=None, reason=f"device {install.device_id} deleted")
    # With no addresses and the server cleaning, the port's desired state is isolated.
    _port_apply(install, reason=f"device {install.device_id} deleted: isolate")


def _step_done(install: Install) -> None:
    now = timezone.now()
    with transaction.atomic():
        install = Install.objects.select_for_update().get(pk=install.pk)
        if install.state != InstallState.RUNNING:
            return
        device, server = install.device, install.server
        if install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
            _server_transition(server, "active", f"{install.kind} {install.pk} done")
            if not install.events.filter(type="provisioning.110").exists():
                install_event_add(install=install, type="provisioning.110")
            _device_transition(device, DeviceState.ACTIVE, f"{install.kind} finished")
        elif install.kind == InstallKind.DEPROVISION:
            _server_transition(server, "ready", f"device {device.pk if device else ''} deleted and wiped")
            Device.objects.filter(pk=device.pk).update(server=None)
            _device_transition(device, DeviceState.DELETED, "deprovisioned")
        transition(install, InstallState.SUCCEEDED, reason="all steps done", extra={"finished_at": now, "deadline": None})


STEPS: dict[str, Callable[[Install], None]] = {
    "pick_server": _step_pick_server,
    "addresses": _step_addresses,
    "port": _step_port,
    "netboot": _step_netboot,
    "begin_reinstall": _step_begin_reinstall,
    "begin_deprovision": _step_begin_deprovision,
    "begin_commissioning": _step_begin_commissioning,
    "boot_disk": _step_boot_disk,
    "power_off": _step_power_off,
    "release": _step_release,
    "done": _step_done,
}


# ---------------------------------------------------------------------------------------------- failure


def install_fail(*, install: Install, reason: str, actor: Any = None, cleanup: bool = True) -> Install:
    """End a run in `failed` with `reason`, leaving nothing behind: the server goes to maintenance
    with its addresses released and its port isolated, the device to `failed`. Safe to call twice."""
    with transaction.atomic():
        install = Install.objects.select_for_update().get(pk=install.pk)
        if install.state not in Install.OPEN:
            return install
        transition(install, InstallState.FAILED, actor=actor, reason=reason,
                   extra={"failure_reason": reason[:2000], "finished_at": timezone.now(), "deadline": None})
        install_event_add(install=install, type="provisioning.failed", body=reason[:500])
    _start_phase_over(install)
    if not cleanup:
        return install
    device, server = install.device, install.server
    problems: list[str] = []
    if server is not None:
        problems += _cleanup_server(install, server, reason)
    if device is not None:
        device.refresh_from_db()
        with transaction.atomic():
            if install.kind != InstallKind.DEPROVISION or device.state != DeviceState.DELETED:
                Device.objects.filter(pk=device.pk).update(server=None)
                if device.state != DeviceState.FAILED:
                    transition(device, DeviceState.FAILED, actor=actor, reason=reason, extra={"failure_reason": reason[:2000]})
    if problems:
        Install.objects.filter(pk=install.pk).update(failure_reason=f"{reason} (clean-up: {'; '.join(problems)})"[:4000])
        install.refresh_from_db()
    return install


def _cleanup_server(install: Install, server: Any, reason: str) -> list[str]:
    """Best effort, each part on its own: one that fails is reported, the others still run."""
    problems: list[str] = []
    try:
        _server_transition(server, "maintenance", f"install {install.pk} failed: {reason}"[:500])
    except Exception as exc:  # the server may already be somewhere a human must look at
        problems.append(f"server state: {exc}")
    try:
        from apps.ipam.services import server_addresses_release

        if install.kind != InstallKind.COMMISSIONING:
            server_addresses_release(server=server, actor=None, reason=f"install {install.pk} failed")
    except Exception as exc:
        problems.append(f"addresses: {exc}")
    try:
        _port_apply(install, reason=f"install {install.pk} failed: isolate")
    except Exception as exc:
        problems.append(f"switch port: {exc}")
    try:
        _power(install, "off")
    except Exception as exc:
        problems.append(f"power off: {exc}")
    return problems


def installs_watchdog(*, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Fail runs whose wait for the machine is overdue; resume steps whose worker vanished."""
    now = now or timezone.now()
    failed = resumed = 0
    overdue = list(Install.objects.filter(state=InstallState.RUNNING, deadline__lt=now).order_by("deadline")[:limit])
    for install in overdue:
        if install.step in WAITS:
            what = {
                "wait_ipxe": "never fetched its iPXE script",
                "wait_phone_home": "never phoned home",
                "wait_first_boot": "never phoned home from its installed operating system",
                "wait_inventory": "never posted its inventory",
            }[install.step]
            install_fail(install=install, reason=f"the server {what} within {step_timeout(install.step)} s")
            failed += 1
        elif install.step_attempts >= settings.INSTALL_STEP_MAX_ATTEMPTS:
            install_fail(install=install, reason=f"step '{install.step}' did not finish after {install.step_attempts} attempts "
                                                 f"of {step_timeout(install.step)} s")
            failed += 1
        else:
            _enqueue(install)
            resumed += 1
    # Admitted long ago but never picked up: the task was lost (a broker restart); send it again.
    # (Counted from the admission, not the order: a run may wait long for its slot.)
    stuck_queued = Install.objects.filter(state=InstallState.QUEUED, starting=True,
                                          admitted_at__lt=now - dt.timedelta(seconds=step_timeout("queued")))[:limit]
    for install in stuck_queued:
        _enqueue(install)
        resumed += 1
    # A slot held by a run that is past its first steps (its worker died at the wrong moment) is freed.
    Install.objects.filter(starting=True).exclude(state__in=Install.OPEN).update(starting=False)
    Install.objects.filter(starting=True, state=InstallState.RUNNING, step__in=WAITS).update(starting=False)
    installs_admit()
    return {"failed": failed, "resumed": resumed}


# ---------------------------------------------------------------------------------------------- machine calls


def install_for_mac(mac: str) -> tuple[Any, Install | None]:
    """(server or None, its open run or None) for a NIC MAC."""
    from apps.hardware.models import NetworkInterface

    nic = NetworkInterface.objects.select_related("server").filter(mac=mac).first()
    if nic is None:
        return None, None
    install = (Install.objects.select_related("device", "operating_system", "server")
               .filter(server=nic.server, state=InstallState.RUNNING).first())
    return nic.server, install


def install_ipxe_fetched(*, install: Install, mac: str) -> None:
    """The machine fetched its script: it reached the DHCP system and iPXE. Ends the wait_ipxe step."""
    with transaction.atomic():
        moved = _move(install, from_step="wait_ipxe", to_step=_next_after("wait_ipxe", install))
        if moved and install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
            install_event_add(install=install, type="provisioning.104.01", body=f"Device connected to DHCP system ({mac})",
                                  source=EventSource.MACHINE)


def install_machine_event(*, install: Install, type: str, body: str) -> InstallEvent:
    if install.state != InstallState.RUNNING or install.step not in ("wait_phone_home", "wait_inventory"):
        raise MachineCallRejected(f"install {install.pk} is not waiting for its machine (step {install.step}, {install.state})")
    return install_event_add(install=install, type=type, body=body, source=EventSource.MACHINE)


INSTALLER_STATES = frozenset({"installed", "wiped"})
FIRST_BOOT_STATE = "booted"


def install_phone_home(*, install: Install, payload: dict[str, Any]) -> Install:
    """A phone-home: from the installer (`{"state": "installed"}` or `"wiped"`; the image is written and
    verified, or the disk wiped) it hands the run back to the platform; from the installed operating
    system's first boot (`{"state": "booted"}`) it ends the run, the device `active`."""
    state = payload.get("state", "installed")
    if state == FIRST_BOOT_STATE:
        return _first_boot_phone_home(install)
    if state not in INSTALLER_STATES:
        raise MachineCallRejected(f"unknown phone-home state {state!r}: the installer sends "
                                  f"{' or '.join(sorted(INSTALLER_STATES))}, the installed system {FIRST_BOOT_STATE!r}")
    with transaction.atomic():
        moved = _move(install, from_step="wait_phone_home", to_step=_next_after("wait_phone_home", install))
        if not moved:
            install.refresh_from_db()
            if install.state == InstallState.RUNNING and install.step == "wait_phone_home":
                raise MachineCallRejected("phone-home raced with another call; try again")
            if install.state != InstallState.RUNNING or _step_index(install) < _step_index(install, "wait_phone_home"):
                raise MachineCallRejected(f"install {install.pk} is not waiting for a phone-home (step {install.step}, {install.state})")
            return install  # a repeated phone-home: already handled
        if install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL) and not install.events.filter(type="provisioning.109").exists():
            install_event_add(install=install, type="provisioning.109", source=EventSource.MACHINE)
        _enqueue(install)
    return install


def _first_boot_phone_home(install: Install) -> Install:
    """The installed system booted from its disk and called home: the device is ready. The last step
    (records only, no device I/O) runs right here rather than after another task hand-off."""
    with transaction.atomic():
        if not _move(install, from_step="wait_first_boot", to_step="done"):
            install.refresh_from_db()
            if install.state == InstallState.SUCCEEDED and install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL):
                return install  # a repeated phone-home: already handled
            raise MachineCallRejected(f"install {install.pk} is not waiting for its first boot (step {install.step}, {install.state})")
        install_event_add(install=install, type="provisioning.110", source=EventSource.MACHINE)
        _step_done(install)
    return Install.objects.get(pk=install.pk)


def _step_index(install: Install, step: str | None = None) -> int:
    return WORKFLOWS[install.kind].index(step or install.step)


def _next_after(step: str, install: Install) -> str:
    steps = WORKFLOWS[install.kind]
    return steps[steps.index(step) + 1]


def install_machine_failure(*, install: Install, reason: str) -> Install:
    """The installer gave up (e.g. checksum mismatch): fail now instead of waiting for the timeout."""
    if install.state != InstallState.RUNNING:
        raise MachineCallRejected(f"install {install.pk} is not running ({install.state})")
    return install_fail(install=install, reason=f"installer reported: {reason}"[:2000])


def install_inventory(*, install: Install, inventory: dict[str, Any]) -> Install:
    """The discovery image's report on a server being commissioning: the hardware app checks it against
    the plan and the cabling (a match makes the server `ready`; differences become findings for staff)."""
    from apps.hardware.commissioning import commissioning_check

    with transaction.atomic():
        if not _move(install, from_step="wait_inventory", to_step="done"):
            raise MachineCallRejected(f"install {install.pk} is not waiting for an inventory (step {install.step})")
        findings = commissioning_check(server=install.server, report=inventory, actor=None)
        note = "matches the records" if not findings else f"{len(findings)} finding(s) for staff"
        install_event_add(install=install, type="commissioning.inventory", body=f"Inventory posted: {note}", source=EventSource.MACHINE)
        transition(install, InstallState.SUCCEEDED, reason=f"inventory posted: {note}",
                   extra={"finished_at": timezone.now(), "deadline": None})
    return install


def discovered_machine_record(*, mac: str, address: str | None, inventory: dict[str, Any] | None = None) -> DiscoveredMachine:
    """An unknown MAC netbooted (and maybe reported its inventory): staff onboard it from this list."""
    machine, _ = DiscoveredMachine.objects.get_or_create(mac=mac, defaults={"address": address})
    machine.address = address
    if inventory is not None:
        machine.inventory = inventory
    machine.save()
    return machine


# ------------------------------------------------------------------------------------ device power

# Customer power actions: the state a device must be in, the state it passes through while the
# BMC works, where it lands, and the BMC action. A reboot keeps the device active throughout.
DEVICE_POWER_ACTIONS: dict[str, tuple[str, str | None, str, str]] = {
    "power_off": (DeviceState.ACTIVE, DeviceState.POWERING_OFF, DeviceState.INACTIVE, "off"),
    "power_on": (DeviceState.INACTIVE, DeviceState.POWERING_ON, DeviceState.ACTIVE, "on"),
    "reboot": (DeviceState.ACTIVE, None, DeviceState.ACTIVE, "cycle"),
}


class DeviceStateConflict(Exception):
    """The device's state does not allow this action now (the API answers 409)."""

    api_status = 409


def device_power(*, device: Device, action: str, actor: Any = None) -> None:
    """Ask for a power action on a customer's device; the BMC call runs on the facility's worker."""
    from apps.hardware.tasks import enqueue_for_facility

    if action not in DEVICE_POWER_ACTIONS:
        raise ValidationError({"type": f"Unknown power action '{action}'. Use one of: {', '.join(DEVICE_POWER_ACTIONS)}."})
    needed, passing, _, _ = DEVICE_POWER_ACTIONS[action]
    with transaction.atomic():
        device = Device.objects.select_for_update(of=("self",)).select_related("server__facility").get(pk=device.pk)
        if device.server_id is None:
            raise ValidationError({"device": "This device has no server yet; wait until it is active."})
        if passing is not None:
            transition(device, passing, actor=actor, reason=f"{action} requested")
        elif device.state != needed:
            raise DeviceStateConflict(f"{device.hostname} is {device.state}; {action} needs it {needed}.")
        else:
            audit_record(action=f"installs.device.{action}", target=device, actor=actor, reason=f"{action} requested")
        device_id, actor_id, facility_code = str(device.pk), getattr(actor, "pk", None), device.server.facility.code
        transaction.on_commit(lambda: enqueue_for_facility(
            "apps.installs.tasks.device_power_apply", device_id, action, actor_id, facility_code=facility_code))


def device_power_apply(*, device_id: Any, action: str, actor: Any = None) -> Device:
    """Run the BMC call of a requested power action and settle the device's state. Safe to retry:
    a device no longer in the passing state (already settled) is left alone."""
    from apps.hardware.power import NoUsableBmc, server_power

    _, passing, landing, bmc_action = DEVICE_POWER_ACTIONS[action]
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
        back = DeviceState.ACTIVE if passing == DeviceState.POWERING_OFF else DeviceState.INACTIVE
        return transition(device, back, actor=actor, reason=f"{action} failed: {message}")
    return transition(device, landing, actor=actor, reason=f"{action} done")
