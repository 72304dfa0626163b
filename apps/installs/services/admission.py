"""Admission: at most INSTALL_MAX_STARTING runs are in their first (device-heavy) steps at once;
the others wait `queued` in order. Admitted runs are handed to a worker of their facility."""
from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.installs.models import Install, InstallState
from project.tasks import enqueue_for_facility


def install_enqueue(install: Install) -> None:
    """Run the install's next platform steps on a worker (its facility's, once the server is known),
    after the caller's transaction commits."""
    _enqueue_id(install.pk, install.server.facility.code if install.server is not None else None)


def _enqueue_id(install_id: Any, facility_code: str | None) -> None:
    install_id = str(install_id)
    transaction.on_commit(lambda: enqueue_for_facility(
        "apps.installs.tasks.install_advance", install_id, facility_code=facility_code,
        task_name=f"install-{install_id}-{time.monotonic_ns()}", group="installs"))


def installs_admit() -> int:
    """Start queued runs, oldest first, while fewer than INSTALL_MAX_STARTING are in their first
    steps. Called after every order and whenever a run leaves its first steps; returns how many."""
    return _admit(keep_first=False)[0]


def admission_slot_pass_on(install: Install, *, keep_next: bool = False) -> Any | None:
    """The run waits for its machine or has ended: its admission slot goes to the next queued run.
    With keep_next, that run's id is returned for the caller to run (and not sent to the queue).
    Freeing the slot and filling it are one step under the admission lock, so that no order's
    admission (in a web worker, whose hand-off to the task queue may be slow) takes it in between."""
    return _admit(keep_first=keep_next, release=install.pk)[1]


def _admit(*, keep_first: bool, release: Any = None) -> tuple[int, Any | None]:
    """Admit what the free slots allow (after freeing `release`'s slot; nothing if it held none).
    With keep_first the oldest admitted run is not sent to the task queue but its id returned: the
    caller, a worker whose run just gave its slot up, runs it itself."""
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
