"""Server picking under concurrency, on PostgreSQL: simultaneous orders never get the same server
(SELECT … FOR UPDATE SKIP LOCKED) and never wait for each other's locks."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from apps.hardware.models import Server
from apps.installs.models import Install, InstallKind, InstallState
from apps.installs.services import admission, workflow
from tests.factories import ProjectFactory
from tests.hardware.factories import FacilityFactory, PlanFactory, ServerFactory
from tests.installs.factories import DeviceFactory, OperatingSystemFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def orders(count: int, plan, facility) -> list[Install]:
    os_ = OperatingSystemFactory(plans=[plan])
    project = ProjectFactory()
    return [Install.objects.create(kind=InstallKind.PROVISION, operating_system=os_,
                                   device=DeviceFactory(project=project, plan=plan, facility=facility, operating_system=os_))
            for _ in range(count)]


def pick(install_id) -> None:
    try:
        workflow.install_advance(install_id=install_id, max_steps=1)  # start + pick_server only
    finally:
        connection.close()


def test_simultaneous_orders_never_share_a_server() -> None:
    facility, plan = FacilityFactory(), PlanFactory()
    servers = [ServerFactory(facility=facility, plan=plan) for _ in range(30)]
    runs = orders(40, plan, facility)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(pick, [r.pk for r in runs]))
    picked = list(Install.objects.filter(server__isnull=False).values_list("server_id", flat=True))
    assert len(picked) == 30 and len(set(picked)) == 30
    assert set(Server.objects.filter(state="allocated").values_list("pk", flat=True)) == {s.pk for s in servers}
    failed = Install.objects.filter(state=InstallState.FAILED)
    assert failed.count() == 10
    assert all(f.failure_reason == f"pick_server: no ready {plan.slug} server is left in {facility.code}" for f in failed)


def test_a_locked_server_is_skipped_not_waited_for() -> None:
    facility, plan = FacilityFactory(), PlanFactory()
    first, second = ServerFactory(facility=facility, plan=plan, serial="A-1"), ServerFactory(facility=facility, plan=plan, serial="B-2")
    (run,) = orders(1, plan, facility)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Server.objects.select_for_update().get(pk=first.pk)  # another order is in the middle of taking it
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        pick(run.pk)
        took = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    run.refresh_from_db()
    assert run.server_id == second.pk
    assert took < 2.0, f"the pick waited {took:.1f} s on a locked row"


def test_concurrent_admissions_and_releases_never_exceed_the_starting_slots(settings) -> None:
    """Orders admitting (web workers) and runs handing their slots on (task workers) at once, each on
    its own connection: never more runs starting than INSTALL_MAX_STARTING, every slot refilled."""
    from django_q.conf import Conf

    settings.INSTALL_MAX_STARTING = 5
    facility, plan = FacilityFactory(), PlanFactory()
    runs = orders(40, plan, facility)
    # Nothing runs the tasks here: this is admission alone (Conf.SYNC would start each run inline).
    sync, Conf.SYNC = Conf.SYNC, False
    seen_over: list[int] = []

    def admit(_: int) -> None:
        try:
            admission.installs_admit()
            seen_over.append(Install.objects.filter(starting=True).count())
        finally:
            connection.close()

    def hand_on(_: int) -> None:
        try:
            holder = Install.objects.filter(starting=True, state=InstallState.QUEUED).order_by("?").first()
            if holder is not None:
                # Its run reached its machine: it gives the slot up and takes the next run itself.
                Install.objects.filter(pk=holder.pk).update(state=InstallState.RUNNING, step="wait_ipxe")
                admission.admission_slot_pass_on(holder)
            seen_over.append(Install.objects.filter(starting=True).count())
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(admit, range(20)))
            list(pool.map(lambda i: (hand_on if i % 2 else admit)(i), range(60)))
    finally:
        Conf.SYNC = sync
    assert max(seen_over) <= 5
    assert Install.objects.filter(starting=True).count() == 5
    assert Install.objects.filter(starting=True).exclude(admitted_at=None).count() == 5
    admitted = list(Install.objects.exclude(admitted_at=None).order_by("created_at").values_list("pk", flat=True))
    assert admitted == [r.pk for r in runs[:len(admitted)]]  # oldest first, none skipped
