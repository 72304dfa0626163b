"""What every part of the install workflow shares: the errors a step raises, each step's time
limit, the run's timeline events, and the compare-and-set move from one step to the next."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.installs.models import EVENT_TYPES, EventSource, Install, InstallEvent, InstallState


class InstallError(Exception):
    """A step failed for good; the message is the install's readable failure reason."""


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
    """Compare-and-set the step: False if another worker (or the watchdog) moved it first."""
    deadline = timezone.now() + dt.timedelta(seconds=step_timeout(to_step))
    updated = Install.objects.filter(pk=install.pk, step=from_step, state=InstallState.RUNNING).update(
        step=to_step, step_attempts=0, deadline=deadline, **fields)
    if updated:
        install.step, install.step_attempts, install.deadline = to_step, 0, deadline
        for key, value in fields.items():
            setattr(install, key, value)
    return bool(updated)
