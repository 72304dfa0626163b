"""The install workflow: each kind of run is a list of steps (WORKFLOWS, its step table).
`install_advance()` runs platform steps one after another until it reaches a wait for the machine;
each step is idempotent, so a step that a killed worker left half done is simply run again. The
watchdog (`installs_watchdog()`, scheduled every minute) ends waits that are overdue and resumes
steps whose worker vanished. A run that fails is cleaned up by `install_fail()`."""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf

from apps.installs.models import Device, DeviceState, Install, InstallKind, InstallState
from apps.installs.services.admission import admission_slot_pass_on, install_enqueue, installs_admit
from apps.installs.services.runs import (
    INSTALLS_OS,
    WAITS,
    WORKFLOWS,
    InstallError,
    RetryLater,
    ServerFailed,
    install_event_add,
    step_move,
    step_timeout,
)
from apps.installs.services.steps import STEPS, install_port_apply, install_power, server_state_ensure
from apps.ipam.services import server_addresses_release
from project.states import transition
from project.tasks import facility_cluster

log = logging.getLogger(__name__)


# Steps that talk to the server's BMC or switch: they run on the facility's own cluster, if it has one.
DEVICE_STEPS = frozenset({"port", "netboot", "boot_disk", "power_off", "release", "bmc_check"})


def _belongs_to_another_cluster(install: Install) -> bool:
    if Conf.SYNC or install.server is None:
        return False  # tasks run inline (tests, a single-process setup): there is nowhere to hand over to
    cluster = facility_cluster(install.server.facility.code)
    return cluster is not None and cluster != Conf.CLUSTER_NAME


def next_step(install: Install, *, after: str | None = None) -> str:
    """The step that follows `after` (default: the run's current step) in the run's workflow."""
    steps = WORKFLOWS[install.kind]
    return steps[steps.index(after or install.step) + 1]


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
        next_id = admission_slot_pass_on(install, keep_next=keep_next)
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
                if install.kind in INSTALLS_OS:
                    install_event_add(install=install, type="provisioning.101")
        if install.state != InstallState.RUNNING or install.step in WAITS:
            return install
        step = install.step
        if step in DEVICE_STEPS and _belongs_to_another_cluster(install):
            # The facility's BMCs and switches are reachable only from its own workers (the run
            # started on the default cluster before it knew its server): hand the rest over.
            install_enqueue(install)
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
        except ServerFailed as exc:
            return install_fail(install=install, reason=f"{step}: {exc}", cleanup=False)
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
            step_move(install, from_step=step, to_step=next_step(install))
        elif install.step == "done":
            return install
    return install


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
    admission_slot_pass_on(install)
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
        # The run's device goes to failed just after (install_fail): it moves with the server.
        server_state_ensure(server, "maintenance", f"install {install.pk} failed: {reason}"[:500], device_moved=True)
    except Exception as exc:  # the server may already be somewhere a human must look at
        problems.append(f"server state: {exc}")
    try:
        if install.kind != InstallKind.COMMISSIONING:
            server_addresses_release(server=server, actor=None, reason=f"install {install.pk} failed")
    except Exception as exc:
        problems.append(f"addresses: {exc}")
    try:
        install_port_apply(install, reason=f"install {install.pk} failed: isolate")
    except Exception as exc:
        problems.append(f"switch port: {exc}")
    try:
        install_power(install, "off")
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
            install_enqueue(install)
            resumed += 1
    # Admitted long ago but never picked up: the task was lost (a broker restart); send it again.
    # (Counted from the admission, not the order: a run may wait long for its slot.)
    stuck_queued = Install.objects.filter(state=InstallState.QUEUED, starting=True,
                                          admitted_at__lt=now - dt.timedelta(seconds=step_timeout("queued")))[:limit]
    for install in stuck_queued:
        install_enqueue(install)
        resumed += 1
    # A slot held by a run that is past its first steps (its worker died at the wrong moment) is freed.
    Install.objects.filter(starting=True).exclude(state__in=Install.OPEN).update(starting=False)
    Install.objects.filter(starting=True, state=InstallState.RUNNING, step__in=WAITS).update(starting=False)
    installs_admit()
    return {"failed": failed, "resumed": resumed}
