"""Benchmark: power-cycle 200 lab servers at once through the task queue, then sync their power state.

200 emulated IPMI BMCs (pyghmi's server side, one process) on 127.0.0.1; a real django-q2 cluster
(`manage.py qcluster`, ORM broker, or Redis when REDIS_URL is set) runs one power-cycle task per
server, each through the real IPMI driver. Runs in a throw-away test database (created and dropped
here) on whatever DATABASE_URL points at:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/bmc.py
Prints the wall time from enqueueing to the last event, and p50/p99 of the BMC call itself and of
queue wait + call, then the same 200 BMCs read by one power-state sync.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
os.environ.pop("METALYARD_TASKS_SYNC", None)
os.environ.setdefault("LOG_LEVEL", "WARNING")  # no line per enqueued task

import django  # noqa: E402

django.setup()

from children import stop_process_group  # noqa: E402 - bench/children.py, beside this script
from django.db import connection  # noqa: E402
from django.test.utils import teardown_databases  # noqa: E402
from migrated import setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def line(label: str, values: list[float]) -> str:
    return (f"{label:<34} n={len(values):<4} p50={percentile(values, 50):8.1f} ms  p99={percentile(values, 99):8.1f} ms  "
            f"max={max(values):8.1f} ms  mean={statistics.fmean(values):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8, help="django-q2 workers in the cluster")
    parser.add_argument("--timeout", type=float, default=10.0, help="BMC call deadline (s)")
    args = parser.parse_args()

    from django_q.conf import Conf

    Conf.SYNC = False
    old_config = setup_bench_databases()
    cluster = None
    from apps.lab.bmc import IpmiLabProcess

    lab = IpmiLabProcess(on_event=lambda event: None)
    try:
        from django_q.tasks import async_task

        from apps.facilities.services import facility_create, metro_create
        from apps.hardware import power
        from apps.hardware.models import BMC, Plan, Server, ServerState
        from apps.hardware.power_models import PowerEvent

        metro = metro_create(code="bb", name="Bench", country="US")
        facility = facility_create(code="bb1", metro=metro, name="Bench 1")
        plan = Plan.objects.create(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", cpu_cores=24, ram_gb=64)
        started = time.monotonic()
        servers = Server.objects.bulk_create([Server(serial=f"BB{i:06d}", plan=plan, facility=facility, state=ServerState.READY)
                                              for i in range(args.servers)])
        BMC.objects.bulk_create([
            BMC(server=server, protocol="ipmi", host="127.0.0.1", username="admin", password="bench-secret", power_state="on",
                port=lab.add(name=server.serial, username="admin", password="bench-secret", server_id=str(server.pk), power="on"))
            for server in servers
        ])
        print(f"setup: {args.servers} lab IPMI BMCs + records in {time.monotonic() - started:.1f} s; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        db = connection.settings_dict
        env = {k: v for k, v in os.environ.items() if k not in ("METALYARD_TASKS_SYNC", "Q_CLUSTER_NAME")}
        if db["ENGINE"].endswith("sqlite3"):
            env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
        else:
            env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env.update({"Q_WORKERS": str(args.workers), "METALYARD_BMC_TIMEOUT": str(args.timeout), "LOG_LEVEL": "WARNING"})
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # let the workers start; the measurement begins at the first enqueue
        broker = "Redis" if not Conf.ORM else "ORM"
        print(f"cluster: {args.workers} workers, {broker} broker, BMC timeout {args.timeout:g} s")

        enqueued_at = time.time()
        t0 = time.monotonic()
        for server in servers:
            async_task("apps.hardware.tasks.power_action_task", str(server.pk), "cycle", None, "bench")
        enqueue_seconds = time.monotonic() - t0
        deadline = time.monotonic() + 600
        while PowerEvent.objects.filter(action="cycle").count() < args.servers and time.monotonic() < deadline:
            if cluster.poll() is not None:
                raise SystemExit(f"the cluster exited with status {cluster.returncode}")
            time.sleep(0.1)
        wall = time.monotonic() - t0
        events = list(PowerEvent.objects.filter(action="cycle"))
        outcomes = {o: sum(1 for e in events if e.outcome == o) for o in sorted({e.outcome for e in events})}
        print(f"\npower-cycle {args.servers} servers through the task queue: wall {wall:.2f} s "
              f"(enqueue {enqueue_seconds:.2f} s), outcomes {outcomes}, {args.servers / wall:.1f} cycles/s")
        print(line("BMC call (login+cycle+logout)", [e.duration_ms for e in events]))
        print(line("enqueue → event recorded", [(e.created_at.timestamp() - enqueued_at) * 1000 for e in events]))
        cycled = sum(1 for s in servers if lab.state(BMC.objects.get(server=s).port)["power"] == "on")
        print(f"lab BMCs on after the cycle: {cycled}/{args.servers}")

        t0 = time.monotonic()
        report = power.power_state_sync(facility_code="bb1", timeout=args.timeout)
        sync_events = list(PowerEvent.objects.filter(action="sync"))
        print(f"\npower-state sync of {report.checked} BMCs (concurrency {min(report.checked, 32)}): "
              f"{time.monotonic() - t0:.2f} s, ok {report.ok}, drift {len(report.drift)}, failed {len(report.failed)}")
        print(line("BMC read (login+status+logout)", [e.duration_ms for e in sync_events]))
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if cluster is not None:
            stop_process_group(cluster)
        lab.stop()
        connection.close()
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
