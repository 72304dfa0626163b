"""Benchmark: N simultaneous orders installed end to end in the lab, with zero machine delays.

Everything real but the machines' hardware: the customer API and the machine endpoints under gunicorn
on 127.0.0.1, the install workflow on a django-q2 cluster (`manage.py qcluster`; Redis broker when
REDIS_URL is set, else the ORM broker), lab IPMI BMCs (pyghmi's server, one process), lab Junos
switches (NETCONF over SSH), IPAM on PostgreSQL, and light emulated machines in a process of their own
that fetch their iPXE script, metadata and image, post events and phone home as soon as they can.
Customers' threads place the orders through `POST /metal/v1/projects/{id}/devices`. Runs in a
throw-away test database:
    REDIS_URL=redis://127.0.0.1:6379/14 DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/installs.py
The emulated BMCs and switches run at a lower CPU priority (nice 10): in a data centre they are other
computers, and here they would otherwise take the platform's turn on the two cores.

Prints wall time, orders per minute, the order call's latency as customers saw it, how long orders
waited `queued` for admission (INSTALL_MAX_STARTING), and the platform overhead per install: from the
order's record to active, minus that wait, minus the time the run waited on BMCs and switches
(Install.device_seconds), minus the time its machine spent on its own between its calls (zero delays:
only the emulation's own plumbing). What is left is the platform's: task hand-offs, the steps' own
work and every answer to the machine. Target: p99 ≤ 1 s, zero failures, zero servers or addresses
given twice.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
# A benchmark drives the API from a few tokens and one address as fast as it can: its rates are raised (not switched off).
os.environ.setdefault("METALYARD_THROTTLE_API_TOKEN", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_API_ADDRESS", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_MACHINE_ADDRESS", "100000000/minute")
# The install steps run on a real django-q2 cluster (Redis broker when REDIS_URL is set, else the ORM).
os.environ["METALYARD_TASKS_SYNC"] = "0"
os.environ["METALYARD_LAB_MACHINE_DELAY_SCALE"] = "0"
os.environ.setdefault("LOG_LEVEL", "WARNING")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("METALYARD_NETBOOT_ASSETS", str(REPO / "var" / "bench-netboot"))

import django  # noqa: E402

django.setup()

from children import lower_priority  # noqa: E402 - bench/children.py, beside this script
from django.db import connection  # noqa: E402
from django.test.utils import teardown_databases  # noqa: E402
from migrated import database_url, setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script

PORTS_PER_SWITCH = 48
# The lab switches run in a child process of their own (as real switches would be elsewhere): it
# prints each switch's port and host key fingerprint as JSON, and stops at the end of its input.
JUNOS_CHILD = """
import json, sys
from apps.lab.junos import JunosLab
lab = JunosLab().start()
out = [{"port": s.port, "fingerprint": s.fingerprint} for s in
       (lab.add_switch(hostname=f"bx1-sw{n}", username=sys.argv[2], password=sys.argv[3]) for n in range(int(sys.argv[1])))]
print(json.dumps(out), flush=True)
sys.stdin.read()
lab.stop()
"""
BMC_USER, BMC_PASSWORD = "admin", "bench-secret"
SW_USER, SW_PASSWORD = "metalyard", "bench-secret"

LAB_NICE = 10
# The light machines run in a process of their own (real machines are other computers): they get the
# lab's power-on events on stdin, and print what every boot did as JSON at the end of their input.
MACHINES_CHILD = """
import json, os, sys, threading, time
import django
django.setup()
from django.conf import settings
from apps.lab import machines
from apps.lab.bmc import deliver_to_machines
settings.LAB_PLATFORM_URL, settings.LAB_MACHINE_DELAY_SCALE = sys.argv[1], 0.0
machines.emulate(True)
for line in sys.stdin:
    deliver_to_machines(json.loads(line))
deadline = time.monotonic() + 30
while machines._light_running and time.monotonic() < deadline:
    time.sleep(0.1)
print(json.dumps([{"server_id": r.server_id, "calls": r.calls, "error": r.error, "seconds": (r.finished or r.started) - r.started}
                  for r in machines.runs]), flush=True)
"""

# The customers are other computers too: their threads place the orders from a process of their own,
# and print each order's id, call latency and send time as JSON when all are placed.
CUSTOMERS_CHILD = """
import json, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
spec = json.loads(sys.argv[1])
placed, errors = {}, []
def place(i):
    body = json.dumps({"hostname": f"bench{i}", **spec["body"]}).encode()
    request = urllib.request.Request(spec["url"], data=body, method="POST",
                                     headers={"X-Auth-Token": spec["token"], "Content-Type": "application/json"})
    t0, sent = time.perf_counter(), time.time()
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            placed[json.loads(answer.read())["id"]] = (time.perf_counter() - t0, sent)
    except urllib.error.HTTPError as exc:
        errors.append(f"order {i}: HTTP {exc.code} {exc.read()[:300]!r}")
    except OSError as exc:
        errors.append(f"order {i}: {exc}")
with ThreadPoolExecutor(max_workers=spec["concurrency"]) as pool:
    list(pool.map(place, range(spec["count"])))
print(json.dumps({"orders": placed, "errors": errors}), flush=True)
"""


class ChildProcess:
    """A helper process started here and stopped here, by its pid."""

    def __init__(self, args: list[str], *, env: dict | None = None, stdout=subprocess.PIPE, nice: int = 0) -> None:
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=stdout, text=True, cwd=REPO,
                                        env={**os.environ, **(env or {})}, start_new_session=True)
        lower_priority(self.process.pid, nice)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.terminate()
                self.process.wait(timeout=15)
            except (subprocess.TimeoutExpired, OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def build_site(count: int, ipmi, switches_lab: list[dict]) -> dict:
    from django.conf import settings

    from apps.facilities.models import Facility, Metro
    from apps.hardware.models import BMC, Cable, NetworkInterface, Plan, Server, SwitchPort
    from apps.hardware.models import Switch as SwitchModel
    from apps.installs.demo import lab_image
    from apps.installs.models import OperatingSystem
    from apps.ipam import services as ipam
    from apps.ipam.models import Kind

    metro = Metro.objects.create(code="bx", name="Bench", country="US")
    facility = Facility.objects.create(code="bx1", metro=metro, name="Bench 1")
    plan = Plan.objects.create(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", cpu_cores=24, ram_gb=64)
    url, digest, size = lab_image("bench_os", Path(settings.NETBOOT_ASSETS_DIR))
    os_ = OperatingSystem.objects.create(slug="bench_os", name="Bench OS", distro="bench", version="1", image_url=url,
                                         image_sha256=digest, image_size=size)
    os_.plans.add(plan)
    for network, supernet, public in (("147.75.0.0/20", "147.75.0.0/16", True), ("10.11.0.0/20", "10.0.0.0/8", False),
                                      ("2604:1380:1000::/48", "2604:1380::/32", True)):
        parent = ipam.block_create(network=supernet, kind=Kind.SUPERNET)
        ipam.block_create(network=network, kind=Kind.POOL, parent=parent, facility=facility, public=public)
    switches = []
    for n, lab in enumerate(switches_lab):
        switches.append(SwitchModel.objects.create(hostname=f"bx1-sw{n}", facility=facility, mgmt_host="127.0.0.1", mgmt_port=lab["port"],
                                                   username=SW_USER, password=SW_PASSWORD, host_key_fingerprint=lab["fingerprint"],
                                                   model="qfx5120-48y"))
    for i in range(count):
        server = Server.objects.create(serial=f"BX{i:06d}", plan=plan, facility=facility, state="ready")
        nic = NetworkInterface.objects.create(server=server, name="eth0", mac=f"0c:c4:7a:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}")
        port = SwitchPort.objects.create(switch=switches[i // PORTS_PER_SWITCH], name=f"xe-0/0/{i % PORTS_PER_SWITCH}")
        Cable.objects.create(interface=nic, port=port)
        bmc_port = ipmi.add(name=f"bmc-{i}", username=BMC_USER, password=BMC_PASSWORD, server_id=str(server.pk), power="off")
        BMC.objects.create(server=server, protocol="ipmi", host="127.0.0.1", port=bmc_port, username=BMC_USER, password=BMC_PASSWORD)
    # Each machine calls from its NIC's provisioning address (in 127.0.0.0/8), as in the lab.
    from apps.installs.demo import lab_provisioning_networks

    lab_provisioning_networks()
    from apps.lab.machines import lab_inventory_reports

    lab_inventory_reports()  # the disks each wipe must attest
    return {"facility": facility, "plan": plan, "os": os_}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_cluster(workers: int) -> ChildProcess:
    """The workflow's workers: `manage.py qcluster`, as in production; ready once it has run a task."""
    from django_q.tasks import async_task, result

    cluster = ChildProcess([sys.executable, "manage.py", "qcluster"], stdout=None,
                           env={"DATABASE_URL": database_url(), "Q_WORKERS": str(workers), "LOG_LEVEL": "ERROR"})
    # Warm the workers, as a running site's are: each loads the workflow's code and drivers once.
    task_ids = [async_task("apps.installs.tasks.warm_up") for _ in range(workers * 2)]
    if not all(result(task_id, wait=60_000) for task_id in task_ids):
        cluster.stop()
        raise RuntimeError("the django-q2 cluster did not run its warm-up tasks within 60 s")
    return cluster


def serve(workers: int, threads: int, *, nice: int = 0, app: str = "project.wsgi") -> tuple[ChildProcess, str]:
    """The platform's web tier as in production: gunicorn on 127.0.0.1, on the benchmark's database
    (`app` project.wsgi: the public site; project.provisioning_wsgi: the endpoints machines call)."""
    port = free_port()
    web = ChildProcess([sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
                        "--workers", str(workers), "--threads", str(threads), "--backlog", "2048", "--log-level", "warning"],
                       env={"DATABASE_URL": database_url(), "LOG_LEVEL": "ERROR"}, stdout=None, nice=nice)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        web.stop()
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")
    # Warm every worker up (URL tree, views, database connection), as a running site is.
    def warm(_: int) -> None:
        paths = ("/ipxe/boot.ipxe", "/machine/00000000-0000-0000-0000-000000000000/metadata") \
            if app == "project.provisioning_wsgi" else ("/healthz",)
        for path in paths:
            with contextlib.suppress(OSError):  # the second answers 403, as it should
                urllib.request.urlopen(f"{base}{path}", timeout=10).read()  # noqa: S310 - loopback
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(warm, range(workers * threads * 2)))
    return web, base


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def run(args: argparse.Namespace) -> int:
    count, concurrency, timeout = args.orders, args.concurrency, args.timeout
    from django.conf import settings

    from apps.accounts import services as accounts
    from apps.installs.models import Device, Install
    from apps.ipam.models import Assignment
    from apps.lab.bmc import IpmiLabProcess

    n_switches = (count + PORTS_PER_SWITCH - 1) // PORTS_PER_SWITCH
    junos = ChildProcess([sys.executable, "-c", JUNOS_CHILD, str(n_switches), SW_USER, SW_PASSWORD], nice=LAB_NICE)
    machine_box: list[ChildProcess] = []
    forward_lock = threading.Lock()

    def forward(event: dict) -> None:  # the lab's power events, to the machines' process
        with forward_lock:
            if machine_box and machine_box[0].process.poll() is None:
                machine_box[0].process.stdin.write(json.dumps(event) + "\n")
                machine_box[0].process.stdin.flush()

    ipmi = IpmiLabProcess(on_event=forward)
    lower_priority(ipmi.process.pid, LAB_NICE)
    web = cluster = machine_web = None
    try:
        started_build = time.perf_counter()
        switches_lab = json.loads(junos.process.stdout.readline())
        site = build_site(count, ipmi, switches_lab)
        user = accounts.user_create(username="bench")
        org = accounts.organization_create(name="Bench", slug="bench", owner=user)
        project = accounts.project_create(organization=org, name="bench")
        _, token = accounts.api_token_create(user=user, description="bench")
        web, base = serve(args.web_workers, args.web_threads, nice=args.api_nice)
        # The endpoints machines call are served by the provisioning listener only, on web workers of
        # their own beside the customer API: a burst of orders then never queues a machine's call.
        machine_web, machine_base = serve(max(1, args.machine_web_workers), args.web_threads, app="project.provisioning_wsgi")
        cluster = start_cluster(args.workers)
        machine_box.append(ChildProcess([sys.executable, "-c", MACHINES_CHILD, machine_base], env={"DATABASE_URL": database_url(), "LOG_LEVEL": "ERROR"}))
        print(f"database: {connection.vendor}; site: {count} servers, {n_switches} lab switches, "
              f"{count} lab BMCs, built in {time.perf_counter() - started_build:.1f} s; {concurrency} customer threads; "
              f"web: gunicorn {args.web_workers}×{args.web_threads} (nice {args.api_nice})"
              f", machines (provisioning listener): gunicorn {max(1, args.machine_web_workers)}×{args.web_threads}; "
              f"workers: qcluster ×{args.workers} "
              f"({'Redis' if settings.REDIS_URL else 'ORM'} broker); at most {settings.INSTALL_MAX_STARTING} runs starting at once",
              flush=True)

        started = time.perf_counter()
        orders = {"url": f"{base}/metal/v1/projects/{project.pk}/devices", "token": token, "count": count, "concurrency": concurrency,
                  "body": {"plan": site["plan"].slug, "facility": site["facility"].code, "operating_system": site["os"].slug}}
        customers = ChildProcess([sys.executable, "-c", CUSTOMERS_CHILD, json.dumps(orders)], nice=args.customer_nice)
        placed = json.loads(customers.process.stdout.readline() or '{"orders": {}, "errors": ["the customers process died"]}')
        customers.stop()
        order_wall = {key: wall for key, (wall, _) in placed["orders"].items()}
        order_sent = {key: sent for key, (_, sent) in placed["orders"].items()}
        errors: list[str] = placed["errors"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Install.objects.filter(state__in=["queued", "running"]).exists():
                break
            time.sleep(0.2)
        wall = time.perf_counter() - started
        machine = machine_box[0].process
        machine.stdin.close()
        machine_runs = json.loads(machine.stdout.readline() or "[]")

        devices = list(Device.objects.all())
        active = [d for d in devices if d.state == "active"]
        failed = [d for d in devices if d.state != "active"]
        servers = [d.server_id for d in active]
        assignments = list(Assignment.objects.filter(released_at__isnull=True).values_list("network", flat=True))
        runs = {str(r.device_id): r for r in Install.objects.filter(kind="provision")}
        install_of_server = {str(r.server_id): str(r.pk) for r in runs.values() if r.server_id}
        machine_own: dict[str, float] = defaultdict(float)
        by_call: dict[str, list[float]] = defaultdict(list)
        for machine_run in machine_runs:
            key = install_of_server.get(machine_run["server_id"])
            calls = sum(seconds for _, seconds, _ in machine_run["calls"])
            for what, seconds, _ in machine_run["calls"]:
                by_call[what].append(seconds)
            if key:
                machine_own[key] += max(0.0, machine_run["seconds"] - calls)
        overhead, e2e, io, queued, orders_only = [], [], [], [], []
        for device in active:
            run_ = runs[str(device.pk)]
            key = str(run_.pk)
            # From the order's record (written inside the order call) to active: the customer's wait
            # for the call itself is the API's latency, reported on its own line below.
            total = (run_.finished_at - run_.created_at).total_seconds()
            waited = (run_.admitted_at - run_.created_at).total_seconds()
            overhead.append(total - waited - run_.device_seconds - machine_own[key])
            e2e.append(run_.finished_at.timestamp() - order_sent[str(device.pk)])
            queued.append(waited)
            io.append(run_.device_seconds)
            orders_only.append(order_wall[str(device.pk)])
        print(f"orders: {count}; active: {len(active)}; failed or stuck: {len(failed) + len(errors)}")
        for d in failed[:5]:
            print(f"  {d.hostname}: {d.state} {d.failure_reason[:200]}")
        for e in errors[:5]:
            print(f"  {e}")
        print(f"double-allocated servers: {len(servers) - len(set(servers))}; "
              f"double-allocated address blocks: {len(assignments) - len(set(assignments))} (of {len(assignments)} active)")
        print(f"total wall time: {wall:.1f} s; {count / wall * 60:.0f} orders per minute")
        if active:
            print(f"order → active per install: p50 {percentile(e2e, 50):.2f} s, p99 {percentile(e2e, 99):.2f} s")
            print(f"queued, waiting for admission: p50 {percentile(queued, 50):.2f} s, p99 {percentile(queued, 99):.2f} s")
            print(f"device I/O per install (BMC calls and switch commits, waited for): p50 {percentile(io, 50):.2f} s, "
                  f"p99 {percentile(io, 99):.2f} s")
            print(f"platform overhead per install: p50 {percentile(overhead, 50):.3f} s, p99 {percentile(overhead, 99):.3f} s, "
                  f"mean {statistics.mean(overhead):.3f} s")
            print("order call (POST …/devices, as the customer timed it): "
                  f"p50 {percentile(orders_only, 50):.3f} s, p99 {percentile(orders_only, 99):.3f} s")
            marks: dict[str, list[float]] = defaultdict(list)
            for device in active:
                run_, sent = runs[str(device.pk)], order_sent[str(device.pk)]
                marks["admitted"].append(run_.admitted_at.timestamp() - sent)
                marks["worker started"].append(run_.started_at.timestamp() - sent)
                for event in run_.events.all():
                    marks[event.type].append(event.created_at.timestamp() - sent)
                marks["active"].append(run_.finished_at.timestamp() - sent)
            print("timeline, p50 seconds after the order: " + "; ".join(
                f"{what} {percentile(v, 50):.2f}" for what, v in sorted(marks.items(), key=lambda kv: percentile(kv[1], 50))))
            from django.db.models import Count
            from django_q.models import Task

            from apps.hardware.power_models import PowerEvent
            from apps.network.models import ConfigPush

            pushes = dict(ConfigPush.objects.values_list("outcome").annotate(n=Count("pk")))
            bmc = dict(PowerEvent.objects.values_list("outcome").annotate(n=Count("pk")))
            print(f"switch commits: {pushes}; BMC calls: {bmc}")
            worst = sorted(range(len(active)), key=lambda i: overhead[i])[-3:]
            for i in worst:
                run_, sent = runs[str(active[i].pk)], order_sent[str(active[i].pk)]
                steps = "; ".join(f"{e.type} {e.created_at.timestamp() - sent:.2f}" for e in run_.events.all())
                # When a worker began each task of the run (django-q2's record): the queue's share of a hand-off.
                tasks = ", ".join(f"{t.timestamp() - sent:.2f}" for t in Task.objects.filter(name__startswith=f"install-{run_.pk}-")
                                  .order_by("started").values_list("started", flat=True))
                print(f"  overhead {overhead[i]:.2f} s: order call {orders_only[i]:.2f}, admitted {run_.admitted_at.timestamp() - sent:.2f}, "
                      f"started {run_.started_at.timestamp() - sent:.2f}, device {io[i]:.2f}; {steps}; active {e2e[i]:.2f}; "
                      f"its tasks began at {tasks or '— (run by the worker that admitted it)'}")
            print("machine calls as the machines timed them (p50/p99 ms): " + "; ".join(
                f"{what} {percentile(v, 50) * 1000:.0f}/{percentile(v, 99) * 1000:.0f}" for what, v in sorted(by_call.items())))
        return 0 if not failed and not errors and len(servers) == len(set(servers)) and len(assignments) == len(set(assignments)) else 1
    finally:
        for child in machine_box:
            child.stop()
        for child in (cluster, machine_web, web):
            if child is not None:
                child.stop()
        ipmi.stop()
        junos.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50, help="customer threads placing orders (API requests in flight)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument("--machine-web-workers", type=int, default=1,
                        help="gunicorn workers of the provisioning listener (the endpoints machines call)")
    parser.add_argument("--api-nice", type=int, default=0, help="CPU niceness of the customer API's web workers")
    parser.add_argument("--customer-nice", type=int, default=LAB_NICE,
                        help="CPU niceness of the customers' process placing the orders (other computers, like the lab)")
    parser.add_argument("--workers", type=int, default=24, help="django-q2 worker processes (the install workflow's)")
    parser.add_argument("--max-starting", type=int, default=None,
                        help="runs in their first steps at once (INSTALL_MAX_STARTING; default: the setting)")
    args = parser.parse_args()
    # Stopped from outside (SIGTERM): unwind, so that the web tier, the workers and the lab stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.max_starting is not None:
        from django.conf import settings

        settings.INSTALL_MAX_STARTING = args.max_starting
        os.environ["METALYARD_INSTALL_MAX_STARTING"] = str(args.max_starting)  # the web tier's and the workers'
    if connection.vendor != "postgresql":
        print("note: SKIP LOCKED picking is proven on PostgreSQL; set DATABASE_URL=postgres://… for the real figures")
    old = setup_bench_databases()
    try:
        code = run(args)
    finally:
        connection.close()
        teardown_databases(old, verbosity=0)
    sys.exit(code)


if __name__ == "__main__":
    main()
