"""IPAM benchmark: seed a /8 → 64 /16 pools with 100,000 assigned /31s and 10,000 project
reservations, then time allocation, free space, utilisation and who-held as service calls and
through the staff API over HTTP; finally allocations per second with 16 concurrent allocators.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard .venv/bin/python bench/ipam.py

It works in its own throw-away database (bench_ipam_<name>, created and dropped by this script), never
in the one DATABASE_URL names.

With --netbox SOURCE (a NetBox source tree or git directory) it installs that NetBox in a throw-away
virtualenv (Python 3.12, from pyenv when this interpreter is older), seeds it with the same rows, serves
both under gunicorn and times both over HTTP in the same run (bench/ipam_side_by_side.py); NetBox's
database and Redis keys are removed at the end. Not part of the test suite: it takes ~20 minutes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import ipaddress
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
# A benchmark drives the API from a few tokens and one address as fast as it can: its rates are raised (not switched off).
os.environ.setdefault("METALYARD_THROTTLE_API_TOKEN", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_API_ADDRESS", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_MACHINE_ADDRESS", "100000000/minute")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from apps.accounts.models import Organization, Project  # noqa: E402
from apps.facilities.models import Facility, Metro  # noqa: E402
from apps.ipam import selectors, services  # noqa: E402
from apps.ipam.models import Block, Kind  # noqa: E402

SUPERNET = ipaddress.ip_network("10.0.0.0/8")
POOLS = 64
ASSIGNMENTS = 100_000
RESERVATIONS = 10_000
PROJECTS = 1_000
RESERVATION_SIZES = (30, 29, 28, 27, 26, 25, 24)  # a customer's elastic /30 … /24
COLUMNS = ("network", "family", "prefix_length", "first", "last", "kind", "parent_id", "public", "project_id", "device_id",
           "device_label", "gateway", "description", "assigned_at", "child_addresses", "child_assigned")


def log(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------- seed


@dataclass(frozen=True)
class Shape:
    """What both systems are seeded with (one generator, one seed): 64 /16 pools, then per pool its
    /31s packed from the start (as first fit leaves them; 80 % belong to one of the projects) and its
    reservations of /30 … /24 after them."""

    pools: list[str]
    # (pool index, CIDR, prefix length, kind, project index or None, seconds before now it was assigned)
    rows: list[tuple[int, str, int, str, int | None, int]]


def shape(rng: random.Random, assignments: int = ASSIGNMENTS, reservations: int = RESERVATIONS) -> Shape:
    year = 365 * 24 * 3600
    pools = [str(net) for net in list(SUPERNET.subnets(new_prefix=16))[:POOLS]]
    rows: list[tuple[int, str, int, str, int | None, int]] = []
    for index, pool in enumerate(pools):
        base = int(ipaddress.ip_network(pool).network_address)
        count = assignments // POOLS + (1 if index < assignments % POOLS else 0)
        for n in range(count):
            project = rng.randrange(PROJECTS) if rng.random() < 0.8 else None
            rows.append((index, str(ipaddress.ip_network((base + 2 * n, 31))), 31, Kind.ASSIGNMENT, project, rng.randrange(year)))
        cursor_at = base + 2 * count
        for _ in range(reservations // POOLS + (1 if index < reservations % POOLS else 0)):
            length = rng.choice(RESERVATION_SIZES)
            size = 1 << (32 - length)
            first = cursor_at + (-cursor_at) % size
            cursor_at = first + size
            rows.append((index, str(ipaddress.ip_network((first, length))), length, Kind.RESERVATION, rng.randrange(PROJECTS),
                         rng.randrange(year)))
    return Shape(pools, rows)


def seed(plan: Shape) -> tuple[Block, list[Block]]:
    started = time.monotonic()
    metro = Metro.objects.create(code="bm", name="Bench metro", country="US")
    facilities = [Facility.objects.create(code=f"bm{i}", metro=metro, name=f"Bench {i}") for i in range(8)]
    orgs = Organization.objects.bulk_create([Organization(name=f"Bench org {i}", slug=f"bench-{i}") for i in range(PROJECTS // 10)])
    projects = Project.objects.bulk_create([Project(organization=orgs[i // 10], name=f"p{i}") for i in range(PROJECTS)])
    supernet = services.block_create(network=str(SUPERNET), kind=Kind.SUPERNET, description="bench")
    pools = [services.block_create(network=net, kind=Kind.POOL, parent=supernet, facility=facilities[i % 8])
             for i, net in enumerate(plan.pools)]
    now = dt.datetime.now(dt.UTC)
    with connection.cursor() as cursor:
        # A bulk load as an operator would do it: the row triggers off for the COPY (the exclusion
        # constraint still checks every row), then the counters rebuilt from the rows.
        cursor.execute("SET session_replication_role = replica")
        with cursor.cursor.copy(f"COPY ipam_block ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n, (pool_index, network, length, kind, project, age) in enumerate(plan.rows):
                net = ipaddress.ip_network(network)
                first, last = int(net.network_address), int(net.broadcast_address)
                assignment = kind == Kind.ASSIGNMENT
                copy.write_row((network, 4, length, first, last, kind, pools[pool_index].pk, False,
                                projects[project].pk if project is not None else None, uuid.uuid4() if assignment else None,
                                f"host-{pool_index}-{n}" if assignment else "", str(net.network_address) if assignment else None, "",
                                now - dt.timedelta(seconds=age), 0, 0))
        cursor.execute("SET session_replication_role = DEFAULT")
    services.block_counters_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ipam_block")
    log(f"Metalyard: seeded {len(plan.rows) + len(pools) + 1:,} blocks under {SUPERNET} in {POOLS} pools in {time.monotonic() - started:.1f} s")
    return supernet, pools


# ---------------------------------------------------------------------- timing


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def timed_pair(first: Callable[[int], Any], second: Callable[[int], Any], runs: int, warmup: int = 5) -> tuple[tuple, tuple]:
    """p50/p99 of two ways of doing the same thing, alternated call by call so both see the same load."""
    for i in range(warmup):
        first(i)
        second(i)
    a, b = [], []
    for i in range(runs):
        start = time.perf_counter()
        first(i)
        middle = time.perf_counter()
        second(i)
        b.append((time.perf_counter() - middle) * 1000)
        a.append((middle - start) * 1000)
    return percentiles(a), percentiles(b)


class LiveServer:
    """The real WSGI application on 127.0.0.1 (a free port), reached over HTTP. One server thread, like
    one gunicorn sync worker: it keeps its database connection across requests (a thread per request
    would open a new PostgreSQL connection for every request and measure that instead)."""

    def __init__(self) -> None:
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        from django.core.wsgi import get_wsgi_application

        class Quiet(WSGIRequestHandler):
            def setup(self) -> None:
                super().setup()
                # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to every small response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=WSGIServer, handler_class=Quiet)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(self, token: str, method: str, path: str, body: dict | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"X-Auth-Token": token, "Content-Type": "application/json", "Host": "127.0.0.1"})
            response = conn.getresponse()
            data = response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} → {response.status}: {data[:300]!r}")
            return json.loads(data)
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------- concurrency


def _worker(pool_ids: list[int], barrier: Any, deadline_s: float, results: Any) -> None:
    connections.close_all()
    done = 0
    barrier.wait()
    end = time.monotonic() + deadline_s
    i = 0
    while time.monotonic() < end:
        services.block_allocate(parent=Block(pk=pool_ids[i % len(pool_ids)]), prefix_length=31, device_label="bench-concurrent")
        done += 1
        i += 1
    connections.close_all()
    results.put(done)


def concurrent_rate(pool_ids_per_worker: list[list[int]], seconds: float) -> float:
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(pool_ids_per_worker) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(ids, barrier, seconds, results)) for ids in pool_ids_per_worker]
    for proc in procs:
        proc.start()
    barrier.wait()
    started = time.monotonic()
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.join(timeout=30)
    return total / elapsed


def allocation_cpu(pools: list[Block], runs: int) -> tuple[float, float]:
    """CPU milliseconds one allocation costs in this process and in its PostgreSQL backend (from
    /proc, so it holds whatever else the machine is doing): what bounds allocations/s on idle cores."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def backend_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    python0, backend0 = time.process_time(), backend_seconds()
    for i in range(runs):
        services.block_allocate(parent=Block(pk=pools[i % len(pools)].pk), prefix_length=31, device_label="bench-cpu")
    return (time.process_time() - python0) * 1000 / runs, (backend_seconds() - backend0) * 1000 / runs


def overlaps() -> int:
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FROM ipam_block a JOIN ipam_block b
              ON coalesce(a.parent_id, 0) = coalesce(b.parent_id, 0) AND a.id < b.id AND a.network && b.network
            WHERE a.released_at IS NULL AND b.released_at IS NULL""")
        clashes = cursor.fetchone()[0]
        cursor.execute("""
            SELECT count(*) FROM ipam_block c JOIN ipam_block p ON p.id = c.parent_id WHERE NOT (p.network >>= c.network)""")
        return clashes + cursor.fetchone()[0]


def fast_path(args: argparse.Namespace, supernet: Block, pools: list[Block], rng: random.Random) -> None:
    from apps.accounts import services as accounts
    from tests.factories import UserFactory

    staff = UserFactory(username="bench-staff", is_staff=True, is_superuser=True)  # get-or-create
    _, token = accounts.api_token_create(user=staff, description="bench")
    live = LiveServer()
    try:
        _fast_path_timed(args, supernet, pools, rng, live, token)
    finally:
        live.stop()


def _fast_path_timed(args: argparse.Namespace, supernet: Block, pools: list[Block], rng: random.Random, live: LiveServer, token: str) -> None:
    now = dt.datetime.now(dt.UTC)
    bases = [int(ipaddress.ip_network(p.network).network_address) for p in pools]

    def who(i: int) -> tuple[str, dt.datetime]:
        address = ipaddress.IPv4Address(bases[i % POOLS] + rng.randrange(3124))
        return str(address), now - dt.timedelta(seconds=rng.randrange(365 * 24 * 3600))

    results: dict[str, dict[str, tuple[float, float]]] = {}
    ops: dict[str, tuple[Callable[[int], Any], Callable[[int], Any], int]] = {
        "allocate /31": (
            lambda i: services.block_allocate(parent=pools[i % POOLS], prefix_length=31, device_label="bench"),
            lambda i: live.request(token, "POST", f"/api/ipam/blocks/{pools[i % POOLS].pk}/allocate", {"prefix_length": 31}),
            args.runs),
        "allocate /29": (
            lambda i: services.block_allocate(parent=pools[i % POOLS], prefix_length=29, device_label="bench"),
            lambda i: live.request(token, "POST", f"/api/ipam/blocks/{pools[i % POOLS].pk}/allocate", {"prefix_length": 29}),
            args.runs),
        "free space /16": (
            lambda i: selectors.block_free_space(pools[i % POOLS], limit=50),
            lambda i: live.request(token, "GET", f"/api/ipam/blocks/{pools[i % POOLS].pk}/free?per_page=50"),
            args.runs),
        "free space /8": (
            lambda i: selectors.block_free_space(supernet, limit=50),
            lambda i: live.request(token, "GET", f"/api/ipam/blocks/{supernet.pk}/free?per_page=50"),
            args.runs),
        "utilisation /8": (
            lambda i: selectors.block_utilisation(supernet),
            lambda i: live.request(token, "GET", f"/api/ipam/blocks/{supernet.pk}/utilisation"),
            max(20, args.runs // 5)),
        "who-held": (
            lambda i: selectors.who_held(*who(i)),
            lambda i: live.request(token, "GET", "/api/ipam/who-held?address={}&at={}".format(*[
                v if isinstance(v, str) else v.strftime("%Y-%m-%dT%H:%M:%SZ") for v in who(i)])),
            args.runs),
    }
    for name, (service_call, api_call, runs) in ops.items():
        service, api = timed_pair(service_call, api_call, runs)
        results[name] = {"service": service, "api": api}
    use = selectors.block_utilisation(supernet)
    log(f"utilisation of {supernet.network}: {use.allocated:,} of {use.total:,} addresses allocated to pools "
        f"({use.allocated_percent:.2f} %), {use.assigned:,} assigned")

    log("")
    log(f"{'operation':<16} {'service p50':>12} {'p99':>8} {'staff API p50':>14} {'p99':>8}")
    for name, r in results.items():
        (sp50, sp99), (ap50, ap99) = r["service"], r["api"]
        log(f"{name:<16} {sp50:>9.2f} ms {sp99:>5.2f} ms {ap50:>11.2f} ms {ap99:>5.2f} ms")
    log("(NetBox beside it, over HTTP in the same run: --netbox SOURCE)")

    log("")
    python_ms, backend_ms = allocation_cpu(pools, args.runs)
    log(f"CPU per allocation: {python_ms:.2f} ms in Python + {backend_ms:.2f} ms in PostgreSQL = {python_ms + backend_ms:.2f} ms, "
        f"so {os.cpu_count()} idle cores could do at most ~{1000 * (os.cpu_count() or 1) / (python_ms + backend_ms):,.0f} allocations/s")
    # The load average before each run: these figures move most with what else shares the cores.
    load = os.getloadavg()[0]
    same = concurrent_rate([[pools[0].pk]] * args.workers, args.seconds)
    log(f"{args.workers} concurrent allocators, one /16 pool:   {same:,.0f} allocations/s "
        f"(service calls; load average {load:.1f} before)")
    load = os.getloadavg()[0]
    spread = concurrent_rate([[p.pk for p in pools[w::args.workers]] for w in range(args.workers)], args.seconds)
    log(f"{args.workers} concurrent allocators, 64 pools:       {spread:,.0f} allocations/s "
        f"(service calls; load average {load:.1f} before)")
    log(f"overlapping active siblings or blocks outside their parent, over all {Block.objects.count():,} rows: {overlaps()}")


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="samples per operation (default 300; with --netbox 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrency run (default 10)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent allocators (default 16)")
    # Smaller shapes only to check that the command works (the docs test runs it); figures are quoted at the defaults.
    parser.add_argument("--assignments", type=int, default=ASSIGNMENTS, help=f"assigned /31s to seed (default {ASSIGNMENTS:,})")
    parser.add_argument("--reservations", type=int, default=RESERVATIONS, help=f"reservations to seed (default {RESERVATIONS:,})")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (bench_ipam_<name>) and reuse it next time")
    side = parser.add_argument_group("side by side with NetBox")
    side.add_argument("--netbox", type=Path, metavar="SOURCE",
                      help="a NetBox source tree or git directory (e.g. a clone of netbox-community/netbox): install it in a "
                           "throw-away virtualenv and time both over HTTP in the same run")
    side.add_argument("--netbox-ref", default="HEAD", help="with a git directory: the tag or commit to run (default HEAD)")
    side.add_argument("--netbox-redis", default="redis://127.0.0.1:6379/7",
                      help="a Redis db NetBox may use alone; its keys are deleted at the end (default redis://127.0.0.1:6379/7)")
    side.add_argument("--netbox-keep", type=Path, metavar="DIR",
                      help="install NetBox in DIR and keep it (source and virtualenv) for the next run; the database is still dropped")
    side.add_argument("--netbox-template", metavar="DATABASE",
                      help="copy NetBox's database from this one, already migrated by the same NetBox, instead of migrating "
                           "(about 7 minutes on 2 cores); the template is left as it is")
    side.add_argument("--gunicorn-workers", type=int, default=2, help="gunicorn sync workers for each system (default 2)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The IPAM benchmark measures PostgreSQL; set DATABASE_URL=postgres://…")
    rng = random.Random(5)  # noqa: S311 - reproducible bench data
    old_name = connection.settings_dict["NAME"]
    bench_name = f"bench_ipam_{old_name}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = bench_name
    from migrated import use_template  # bench/migrated.py, beside this script

    use_template()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=args.keep)
    try:
        log(f"PostgreSQL {connection.cursor().connection.info.server_version}, database {connection.settings_dict['NAME']}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other sessions' work shares these cores)")
        plan = shape(rng, args.assignments, args.reservations)
        supernet = Block.objects.filter(network=str(SUPERNET), kind=Kind.SUPERNET, description="bench").first()
        if supernet is not None:
            pools = list(Block.objects.filter(parent=supernet, kind=Kind.POOL).order_by("first"))
            log(f"reusing the seeded database {bench_name} ({Block.objects.count():,} blocks)")
        else:
            supernet, pools = seed(plan)
        if args.netbox:
            from bench.ipam_side_by_side import side_by_side

            side_by_side(args, plan, supernet, pools, rng, old_name)
        else:
            fast_path(args, supernet, pools, rng)
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = old_name
        if not args.keep:
            drop_database(bench_name)


def drop_database(name: str) -> None:
    with connection._nodb_cursor() as cursor:  # FORCE: server processes may still hold sessions
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
