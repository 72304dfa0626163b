"""Per-facility clusters: a facility's BMC work runs on the django-q2 cluster named by its code.
Two real `qcluster` processes (Q_CLUSTER_NAME=<facility>) on PostgreSQL with the Redis broker; each
facility's power actions and sync must run on its own cluster, and on no other."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from apps.hardware import power
from apps.hardware.power_models import PowerEvent
from project import tasks as routing
from tests.facilities.factories import FacilityFactory
from tests.hardware.factories import BMCFactory, PlanFactory, ServerFactory
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab  # noqa: F401 - fixture
from tests.task_worker import TaskWorker

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
FACILITIES = ("rt1", "rt2")
WAIT_SECONDS = 90


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_TEST_URL", "")
    if not url:
        pytest.skip("needs Redis: export REDIS_TEST_URL=redis://127.0.0.1:6379/15 (CI does)")
    import redis

    client = redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"REDIS_TEST_URL={url} does not answer ({exc}); start redis-server")
    client.flushdb()  # a database of its own for tests (15 in CI)
    yield url
    client.flushdb()


@pytest.fixture
def clusters(redis_url, transactional_db, monkeypatch, settings) -> Iterator[dict[str, TaskWorker]]:
    from django_q.conf import Conf

    # This process enqueues to Redis, for real (not inline), and knows both facility clusters.
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    settings.Q_CLUSTER = {**django_settings.Q_CLUSTER, "ALT_CLUSTERS": {code: {} for code in FACILITIES}}

    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in ("METALYARD_TASKS_SYNC", "Q_CLUSTER_NAME")}
    env.update({
        "DATABASE_URL": database_url,  # the test database, which this test commits to
        "REDIS_URL": redis_url,
        "METALYARD_FACILITY_CLUSTERS": ",".join(FACILITIES),
        "METALYARD_DEV_KEYS": "1",
        "METALYARD_BMC_TIMEOUT": "5",
        "Q_WORKERS": "2",
    })
    # On the leash of tests/task_worker.py: the cluster's main process is asked to stop (it stops its own children in
    # ~2 s), where a SIGTERM to the whole group killed its sentinel first and each cluster hung until killed (20 s).
    running: dict[str, TaskWorker] = {}
    try:
        for code in FACILITIES:
            running[code] = TaskWorker({**env, "Q_CLUSTER_NAME": code})
        yield running
    finally:
        for worker in running.values():
            worker.stop()


def test_each_facilitys_device_work_runs_on_its_own_cluster(clusters, ipmi_lab):  # noqa: F811
    plan = PlanFactory()
    servers = {}
    for code in FACILITIES:
        facility = FacilityFactory(code=code)
        servers[code] = []
        for n in range(3):
            server = ServerFactory(facility=facility, plan=plan)
            port = ipmi_lab.add(name=f"{code}-{n}", username=USERNAME, password=PASSWORD, server_id=str(server.pk))
            BMCFactory(server=server, host="127.0.0.1", port=port, username=USERNAME, password=PASSWORD)
            servers[code].append(server)
    assert routing.facility_cluster("rt1") == "rt1" and routing.facility_cluster("elsewhere") is None

    for code in FACILITIES:
        for server in servers[code]:
            power.server_power_request(server=server, action="on", source="test")  # autocommit: enqueued at once
        routing.enqueue_for_facility("apps.hardware.tasks.power_state_sync_task", code, facility_code=code)

    expected = 2 * 3 * 2  # per facility: 3 power-ons and 3 sync reads
    deadline = time.monotonic() + WAIT_SECONDS
    while PowerEvent.objects.count() < expected and time.monotonic() < deadline:
        for worker in clusters.values():
            worker.assert_running()
        time.sleep(0.5)
    events = list(PowerEvent.objects.select_related("server__facility"))
    assert len(events) == expected, f"only {len(events)} of {expected} events after {WAIT_SECONDS} s"
    for event in events:
        facility = event.server.facility.code
        assert event.outcome in ("ok", "drift"), event.message  # a sync may read before a power-on lands
        assert event.worker.split("@")[0] == facility, f"{event.action} for a {facility} server ran on {event.worker}"
    assert {e.worker.split("@")[0] for e in events if e.action == "on"} == set(FACILITIES)
    for code in FACILITIES:
        assert all(ipmi_lab.state(bmc_port)["power"] == "on" for bmc_port in [s.bmc.port for s in servers[code]])
