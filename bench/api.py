"""Benchmark: the customer API's device list and device read at scale, through gunicorn on PostgreSQL.

10,000 devices (each with its three addresses and a finished install timeline) in 200 projects of 20
organizations, in a throw-away test database; the public site under gunicorn on 127.0.0.1; 8 customer
threads (each a different organization's token) calling, for a fixed time,
    GET /metal/v1/projects/{id}/devices?per_page=100   and   GET /metal/v1/devices/{id}
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/api.py [--quick]
First it counts the queries of one device-list page at per_page 1, 10, 100 and 1000 (they must be the
same: nothing per device). Prints p50/p99 of both calls as the clients saw them. Target: p99 ≤ 100 ms.
The seed writes rows in bulk (10,000 orders through the workflow would be the install benchmark's job).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
# A benchmark drives the API from a few tokens and one address as fast as it can: its rates are raised (not switched off).
os.environ.setdefault("METALYARD_THROTTLE_API_TOKEN", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_API_ADDRESS", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_MACHINE_ADDRESS", "100000000/minute")
os.environ.setdefault("LOG_LEVEL", "WARNING")
REPO = Path(__file__).resolve().parents[1]

import django  # noqa: E402

django.setup()

from children import stop_process_group  # noqa: E402 - bench/children.py, beside this script
from django.db import connection  # noqa: E402
from django.test.utils import teardown_databases  # noqa: E402
from migrated import database_url, setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(*, devices: int, projects: int, organizations: int) -> tuple[list[tuple[str, list[str], list[str]]], str]:
    """Organizations with an owner and a token each, their projects, and their devices with addresses
    and install timelines. Returns (token, project ids, device ids) per organization."""
    from django.utils import timezone

    from apps.accounts import services as accounts
    from apps.accounts.models import Project
    from apps.facilities.models import Facility, Metro
    from apps.hardware.models import Plan
    from apps.installs.models import EVENT_TYPES, Device, Install, InstallEvent, OperatingSystem
    from apps.ipam import services as ipam
    from apps.ipam.models import Block, Kind
    from tests.factories import UserFactory

    metro = Metro.objects.create(code="da", name="Dallas", country="US")
    facility = Facility.objects.create(code="da11", metro=metro, name="Dallas 11")
    plan = Plan.objects.create(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", ram_gb=64)
    plan.facilities.add(facility)
    os_ = OperatingSystem.objects.create(slug="ubuntu_24_04", name="Ubuntu 24.04", distro="ubuntu", version="24.04",
                                         image_url="/netboot/assets/u.img", image_sha256="0" * 64, image_size=1)
    os_.plans.add(plan)
    pools = {}
    for network, supernet, public in (("147.64.0.0/12", "147.64.0.0/10", True), ("10.0.0.0/12", "10.0.0.0/8", False),
                                      ("2604:1380::/36", "2604:1380::/32", True)):
        parent = ipam.block_create(network=supernet, kind=Kind.SUPERNET)
        pools[network] = ipam.block_create(network=network, kind=Kind.POOL, parent=parent, facility=facility, public=public)
    customers = []
    per_org = projects // organizations
    now = timezone.now()
    device_count = 0
    for o in range(organizations):
        owner = UserFactory(username=f"owner{o}")
        org = accounts.organization_create(name=f"Org {o}", slug=f"org-{o}", owner=owner)
        _, token = accounts.api_token_create(user=owner, description="bench")
        project_ids, device_ids = [], []
        for p in range(per_org):
            project = Project.objects.create(organization=org, name=f"p{p}")
            project_ids.append(str(project.pk))
            batch = [Device(id=uuid.uuid4(), project=project, hostname=f"web{i}", plan=plan, metro=metro, facility=facility,
                            operating_system=os_, state="active", tags=["bench"]) for i in range(devices // projects)]
            Device.objects.bulk_create(batch)
            installs = [Install(device=d, kind="provision", state="succeeded", operating_system=os_, finished_at=now) for d in batch]
            Install.objects.bulk_create(installs)
            InstallEvent.objects.bulk_create([InstallEvent(install=i, type=t, body=label, created_at=now + timedelta(seconds=k))
                                              for i in installs for k, (t, (label, _)) in enumerate(EVENT_TYPES.items())])
            blocks = []
            for d in batch:
                n = device_count
                device_count += 1
                for network, prefix in (("147.64.0.0/12", 31), ("10.0.0.0/12", 31), ("2604:1380::/36", 127)):
                    net = ipaddress.ip_network(network)
                    sub = ipaddress.ip_network(f"{net.network_address + 2 * n}/{prefix}")
                    block = Block(kind=Kind.ASSIGNMENT, parent=pools[network], public=pools[network].public, project=project,
                                  device_id=d.pk, device_label=d.hostname, gateway=str(sub.network_address))
                    block.set_network(sub)
                    blocks.append(block)
            Block.objects.bulk_create(blocks)
            device_ids += [str(d.pk) for d in batch]
        customers.append((token, project_ids, device_ids))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does after bulk writes: the planner sees the tables as they are
    return customers, str(Device.objects.first().pk)


def query_counts(customers: list) -> dict[int, int]:
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token, project_ids, _ = customers[0]
    client = Client(HTTP_X_AUTH_TOKEN=token, HTTP_HOST="127.0.0.1")
    counts = {}
    for per_page in (1, 10, 100, 1000):
        client.get(f"/metal/v1/projects/{project_ids[0]}/devices?per_page={per_page}")  # warm (token touch, caches)
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(f"/metal/v1/projects/{project_ids[0]}/devices?per_page={per_page}")
        assert answer.status_code == 200, answer.content[:300]
        counts[per_page] = len(queries)
    return counts


def service_times(customers: list, repeat: int = 30) -> dict[str, tuple[float, float]]:
    """What one call costs the Django stack alone (token, tenancy, queries, serialising), one at a time: the floor
    under the figures measured through gunicorn with concurrent clients on a shared machine. Per call: the median
    wall time and the median CPU time of this process (the part other sessions' load does not inflate much;
    PostgreSQL's own CPU is not in it)."""
    from django.test import Client

    token, project_ids, device_ids = customers[0]
    client = Client(HTTP_X_AUTH_TOKEN=token, HTTP_HOST="127.0.0.1")
    out = {}
    for label, url in (("GET /metal/v1/projects/{id}/devices?per_page=100", f"/metal/v1/projects/{project_ids[0]}/devices?per_page=100"),
                       ("GET /metal/v1/devices/{id}", f"/metal/v1/devices/{device_ids[0]}")):
        client.get(url)
        took, cpu = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            assert client.get(url).status_code == 200
            took.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        out[label] = (percentile(took, 50), percentile(cpu, 50))
    return out


def serve(workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # Connections kept through the run, so the database's CPU per connection can be read at its end.
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "project.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                            "--threads", str(threads), "--log-level", "warning"], cwd=REPO, start_new_session=True,
                           env={**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "ERROR", "DB_CONN_MAX_AGE": "600"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return web, base
        except OSError:
            time.sleep(0.3)
    stop_process_group(web)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) process `pid` has used so far; 0 for one that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_snapshot(web: subprocess.Popen) -> dict[str, dict[int, float]]:
    """CPU used so far by the web processes (gunicorn's master and workers), the database's server processes
    for this database (PostgreSQL is on this machine), and this process (the client threads)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        backends = [row[0] for row in cursor.fetchall()]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"web": {pid: process_cpu(pid) for pid in [web.pid, *children(web.pid)]},
            "database": {pid: process_cpu(pid) for pid in backends},
            "clients": {0: usage.ru_utime + usage.ru_stime}}


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {part: sum(value - before[part].get(pid, 0.0) for pid, value in after[part].items()) for part in after}


def warm(base: str, customers: list) -> None:
    """Every worker's URL tree, views and database connection, before anything is measured."""
    for token, project_ids, _ in customers[:4]:
        for _ in range(8):
            urllib.request.urlopen(urllib.request.Request(f"{base}/metal/v1/projects/{project_ids[0]}/devices?per_page=100",  # noqa: S310
                                                          headers={"X-Auth-Token": token}), timeout=30).read()


def load(base: str, customers: list, *, clients: int, seconds: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"list": [], "get": []}
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = 0.0

    def client(index: int) -> None:
        rng = random.Random(index)
        token, project_ids, device_ids = customers[index % len(customers)]
        while time.monotonic() < stop_at:
            for kind, url in (("list", f"/metal/v1/projects/{rng.choice(project_ids)}/devices?per_page=100"),
                              ("get", f"/metal/v1/devices/{rng.choice(device_ids)}")):
                request = urllib.request.Request(f"{base}{url}", headers={"X-Auth-Token": token})  # noqa: S310 - loopback
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
                        answer.read()
                except OSError as exc:
                    with lock:
                        errors.append(f"{url}: {exc}")
                    continue
                with lock:
                    timings[kind].append(time.perf_counter() - started)

    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    if errors:
        print(f"{len(errors)} errors, e.g. {errors[0]}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--organizations", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--quick", action="store_true",
                        help="a check that the benchmark still works (200 devices in 10 projects, 5 s of load); not the figures")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.projects, args.organizations, args.seconds = 200, 10, 5, 5.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    old = setup_bench_databases()
    web = None
    try:
        started = time.monotonic()
        customers, _ = seed(devices=args.devices, projects=args.projects, organizations=args.organizations)
        print(f"seeded {args.devices} devices in {args.projects} projects of {args.organizations} organizations "
              f"in {time.monotonic() - started:.0f} s")
        counts = query_counts(customers)
        print("queries of one device-list page by per_page: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
        for label, (seconds, cpu) in service_times(customers).items():
            print(f"{label}, one client in-process, no HTTP: median {seconds * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms")
        web, base = serve(args.web_workers, args.web_threads)
        warm(base, customers)
        print("load average before the run (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        before = cpu_snapshot(web)
        timings = load(base, customers, clients=args.clients, seconds=args.seconds)
        used = cpu_used(before, cpu_snapshot(web))
        print("load average after the run (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        calls = max(1, sum(len(v) for v in timings.values()))
        # What the machine spent per call, whoever waited for it: on idle cores, 8 closed-loop clients on 2 cores
        # wait about 8 / 2 times this per call.
        print(f"CPU per call during the run ({calls} calls): " + ", ".join(f"{part} {seconds / calls * 1000:.1f} ms" for part, seconds in used.items())
              + f", all {sum(used.values()) / calls * 1000:.1f} ms")
        for kind, label in (("list", "GET /metal/v1/projects/{id}/devices?per_page=100"), ("get", "GET /metal/v1/devices/{id}")):
            values = timings[kind]
            print(f"{label}: {len(values)} calls, p50 {percentile(values, 50) * 1000:.1f} ms, "
                  f"p99 {percentile(values, 99) * 1000:.1f} ms")
        sys.exit(0 if len(set(counts.values())) == 1 else 1)
    finally:
        if web is not None:
            stop_process_group(web)
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
