"""What every part of the install workflow shares: the step table (WORKFLOWS), the errors a step
raises, each step's time limit, the run's timeline events, and the compare-and-set move from one
step to the next, which only the step table's moves pass."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.installs.models import EVENT_TYPES, EventSource, Install, InstallEvent, InstallKind, InstallState
from project.states import IllegalTransition

# The step table: each kind of run walks its steps in this order, never back and never skipping one
# (step_move() refuses anything else). Waits are ended by the machine's own calls or the watchdog.
WAITS = frozenset({"wait_ipxe", "wait_phone_home", "wait_first_boot", "wait_inventory"})
WORKFLOWS: dict[str, tuple[str, ...]] = {
    InstallKind.PROVISION: ("pick_server", "addresses", "port", "netboot", "wait_ipxe", "wait_phone_home", "boot_disk",
                            "wait_first_boot", "done"),
    InstallKind.REINSTALL: ("begin_reinstall", "port", "netboot", "wait_ipxe", "wait_phone_home", "boot_disk",
                            "wait_first_boot", "done"),
    InstallKind.DEPROVISION: ("begin_deprovision", "netboot", "wait_ipxe", "wait_phone_home", "power_off", "release", "done"),
    InstallKind.COMMISSIONING: ("begin_commissioning", "netboot", "wait_ipxe", "wait_inventory", "bmc_check", "done"),
    # The rescue system runs in memory: the run ends when it calls home, the device stays `rescue`.
    InstallKind.RESCUE: ("begin_rescue", "netboot", "wait_ipxe", "wait_phone_home", "done"),
    # The customer's iPXE script is the install (order or reinstall): served once, the device is active.
    InstallKind.CUSTOM_IPXE: ("pick_server", "addresses", "port", "custom_ipxe", "netboot", "wait_ipxe", "done"),
}
# The kinds that put an operating system on the device (and walk the provisioning.1xx events).
INSTALLS_OS = frozenset({InstallKind.PROVISION, InstallKind.REINSTALL, InstallKind.CUSTOM_IPXE})


class InstallError(Exception):
    """A step failed for good; the message is the install's readable failure reason."""


class ServerFailed(Exception):
    """A step found the machine unfit and has put the server in `failed` with the reason (for staff): the run fails
    without the clean-up that would move the server to maintenance."""


class RetryLater(Exception):
    """A step failed in a way that may pass (a BMC that did not answer): run it again after a pause."""


def step_timeout(step: str) -> int:
    return int(settings.INSTALL_STEP_TIMEOUTS.get(step, settings.INSTALL_STEP_TIMEOUTS["default"]))


def install_event_add(*, install: Install, type: str, body: str = "", source: str = EventSource.PLATFORM,
                      at: dt.datetime | None = None) -> InstallEvent:
    """Append one event to the timeline (the body defaults to the type's standard text)."""
    body = (body or EVENT_TYPES.get(type, ("", 0))[0])[:500]
    return InstallEvent.objects.create(install=install, type=type, body=body, source=source, created_at=at or timezone.now())


def step_move(install: Install, *, from_step: str, to_step: str, **fields: Any) -> bool:
    """Compare-and-set the step: False if another worker (or the watchdog) moved it first. A move the
    step table does not have (backwards, skipping a step, another kind's step) is refused."""
    steps = WORKFLOWS[install.kind]
    position = steps.index(from_step) if from_step in steps else -1
    if position < 0 or position + 1 >= len(steps) or steps[position + 1] != to_step:
        allowed = frozenset({steps[position + 1]}) if 0 <= position < len(steps) - 1 else frozenset()
        raise IllegalTransition(install, from_step, to_step, allowed)
    deadline = timezone.now() + dt.timedelta(seconds=step_timeout(to_step))
    updated = Install.objects.filter(pk=install.pk, step=from_step, state=InstallState.RUNNING).update(
        step=to_step, step_attempts=0, deadline=deadline, **fields)
    if updated:
        install.step, install.step_attempts, install.deadline = to_step, 0, deadline
        for key, value in fields.items():
            setattr(install, key, value)
    return bool(updated)
