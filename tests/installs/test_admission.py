"""Admission: a burst of orders is started a few at a time (INSTALL_MAX_STARTING), oldest first, so
that the tasks of runs already under way never wait behind a queue of new starts. Tasks go to the
real ORM broker here (not run), so what was sent to the workers can be counted."""
from __future__ import annotations

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from apps.installs.models import Install, InstallState
from apps.installs.services import admission, orders, workflow
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_tasks(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    OrmQ.objects.all().delete()
    return lambda: OrmQ.objects.filter(key=Conf.PREFIX).count()


def order(rack, n: int) -> list[Install]:
    project = ProjectFactory()
    devices = [orders.device_create(project=project, hostname=f"burst{i}", plan=rack["plan"], facility=rack["facility"],
                                      operating_system=rack["os"]) for i in range(n)]
    return [device.installs.get() for device in devices]


def starting() -> set:
    return set(Install.objects.filter(starting=True).values_list("pk", flat=True))


def test_a_burst_is_admitted_a_few_at_a_time_oldest_first(rack, settings, queued_tasks, django_capture_on_commit_callbacks) -> None:
    settings.INSTALL_MAX_STARTING = 2
    with django_capture_on_commit_callbacks(execute=True):
        runs = order(rack, 3)
    assert starting() == {runs[0].pk, runs[1].pk}
    assert queued_tasks() == 2
    assert all(Install.objects.get(pk=r.pk).state == InstallState.QUEUED for r in runs)

    # The first run leaves its first steps (here it fails): its slot goes to the oldest waiting run.
    with django_capture_on_commit_callbacks(execute=True):
        workflow.install_fail(install=runs[0], reason="test: ended early", cleanup=False)
    assert starting() == {runs[1].pk, runs[2].pk}
    assert queued_tasks() == 3

    # Admitting again with no free slot sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert admission.installs_admit() == 0
    assert queued_tasks() == 3


def test_the_watchdog_frees_a_slot_held_by_a_run_already_waiting_for_its_machine(rack, settings, queued_tasks,
                                                                                 django_capture_on_commit_callbacks) -> None:
    settings.INSTALL_MAX_STARTING = 1
    with django_capture_on_commit_callbacks(execute=True):
        first, second = order(rack, 2)
    assert starting() == {first.pk}
    # Its worker moved it to the wait and died before handing the slot on.
    Install.objects.filter(pk=first.pk).update(state=InstallState.RUNNING, step="wait_ipxe")
    with django_capture_on_commit_callbacks(execute=True):
        workflow.installs_watchdog()
    assert starting() == {second.pk}
    assert queued_tasks() == 2


def test_a_run_started_on_the_default_cluster_hands_its_device_steps_to_the_facilitys_cluster(
        rack, settings, queued_tasks, django_capture_on_commit_callbacks) -> None:
    from apps.hardware.power_models import PowerEvent
    from apps.ipam.models import Assignment
    from apps.network.models import ConfigPush

    code = rack["facility"].code
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "ALT_CLUSTERS": {code: {}}}
    with django_capture_on_commit_callbacks(execute=True):
        (run,) = order(rack, 1)
    assert OrmQ.objects.filter(key=Conf.CLUSTER_NAME).count() == 1  # the start: no server known yet

    # The default cluster's worker picks the server and its addresses (database only), then stops.
    with django_capture_on_commit_callbacks(execute=True):
        run = workflow.install_advance(install_id=run.pk)
    assert (run.state, run.step) == (InstallState.RUNNING, "port")
    assert Assignment.objects.filter(server=run.server, released_at__isnull=True).count() == 3
    assert not ConfigPush.objects.exists() and not PowerEvent.objects.exists()  # no device was touched
    assert OrmQ.objects.filter(key=code).count() == 1  # the rest waits for the facility's workers
    assert Install.objects.get(pk=run.pk).starting  # and it keeps its admission slot meanwhile


def test_the_watchdog_resends_a_start_lost_after_admission_but_not_one_just_admitted(rack, settings, queued_tasks,
                                                                                    django_capture_on_commit_callbacks) -> None:
    import datetime as dt

    from django.utils import timezone

    settings.INSTALL_MAX_STARTING = 2
    with django_capture_on_commit_callbacks(execute=True):
        lost, fresh = order(rack, 2)
    assert queued_tasks() == 2
    hours_ago = timezone.now() - dt.timedelta(hours=1)
    # Both were ordered an hour ago; one was admitted then and its task vanished, one a moment ago.
    Install.objects.filter(pk__in=[lost.pk, fresh.pk]).update(created_at=hours_ago)
    Install.objects.filter(pk=lost.pk).update(admitted_at=hours_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow.installs_watchdog() == {"failed": 0, "resumed": 1}
    assert queued_tasks() == 3


@pytest.mark.parametrize("inline_seconds", [60, 0])
def test_a_worker_whose_run_gives_its_slot_up_runs_the_next_one_itself(rack, settings, queued_tasks, inline_seconds,
                                                                       django_capture_on_commit_callbacks) -> None:
    code = rack["facility"].code
    # The facility has its own workers: a run's platform steps here stop before its first device step.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "ALT_CLUSTERS": {code: {}}}
    settings.INSTALL_MAX_STARTING = 1
    settings.INSTALL_INLINE_SECONDS = inline_seconds
    with django_capture_on_commit_callbacks(execute=True):
        first, second, third = order(rack, 3)
    assert Install.objects.get(pk=third.pk).state == InstallState.QUEUED
    assert OrmQ.objects.filter(key=Conf.CLUSTER_NAME).count() == 1 and starting() == {first.pk}
    # The first run's worker sees it waiting for its machine: its slot goes to the second run.
    Install.objects.filter(pk=first.pk).update(state=InstallState.RUNNING, step="wait_ipxe")
    with django_capture_on_commit_callbacks(execute=True):
        workflow.install_advance(install_id=first.pk)
    second.refresh_from_db()
    assert starting() == {second.pk} and third.pk not in starting()  # the third still waits for a slot
    if inline_seconds:
        # Run by this worker at once, up to its hand-over to the facility: no start task was sent.
        assert (second.state, second.step) == (InstallState.RUNNING, "port") and second.server_id is not None
        assert OrmQ.objects.filter(key=Conf.CLUSTER_NAME).count() == 1
        assert OrmQ.objects.filter(key=code).count() == 1
    else:
        # Past the time a task may go on: the second run goes through the queue like any other.
        assert second.state == InstallState.QUEUED
        assert OrmQ.objects.filter(key=Conf.CLUSTER_NAME).count() == 2
