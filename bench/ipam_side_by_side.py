"""`bench/ipam.py --netbox`: Metalyard and NetBox seeded with the same rows, each served by gunicorn
with the same number of sync workers on 127.0.0.1, timed by one HTTP client in one run, alternating
call by call (which system goes first alternates too), then 16 concurrent HTTP allocators against
each in alternating rounds.

What each row asks of each system:

| row | Metalyard (staff API) | NetBox (REST API, or its web page where it has no API) |
|---|---|---|
| allocate /31, /29 | POST /api/ipam/blocks/{pool}/allocate | POST /api/ipam/prefixes/{pool}/available-prefixes/ |
| free space, first page | GET /api/ipam/blocks/{id}/free?per_page=50 | GET /api/ipam/prefixes/{id}/available-prefixes/?limit=50 |
| utilisation | GET /api/ipam/blocks/{id}/utilisation | GET /ipam/prefixes/{id}/ (the page that shows it) |
| who-held | GET /api/ipam/who-held?address=…&at=… | — (NetBox keeps no assignment history) |
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import ipaddress
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.db import connection, connections

from apps.ipam.models import Block, Kind
from bench import ipam as bench
from bench.ipam_netbox import NetBox, free_port, log, wait_http

ROOT = Path(__file__).resolve().parent.parent


class Client:
    """One HTTP request per connection (gunicorn's sync workers close it anyway), body and headers in
    one send, the same code for both systems."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = {"Host": "127.0.0.1", "Accept": "application/json", **headers}

    def __call__(self, method: str, path: str, body: Any = None, expect: int = 200) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            headers = dict(self.headers)
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != expect:
                raise RuntimeError(f"{method} 127.0.0.1:{self.port}{path} → {response.status}: {data[:300]!r}")
            return data
        finally:
            conn.close()


class Probe:
    """Where a system's requests spend their time on the server side: CPU time and time spent runnable
    but waiting for a CPU, summed over its gunicorn workers and their PostgreSQL backends, read from
    /proc/<pid>/schedstat (the kernel's own accounting, no sampling and nothing added to a request)."""

    def __init__(self, master_pid: int, database: str) -> None:
        self.master_pid = master_pid
        self.database = database

    def _workers(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.master_pid:
                    pids.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue  # a process that ended while the directory was listed
        return pids

    def _backends(self) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
                           "AND pid <> pg_backend_pid()", [self.database])
            return [row[0] for row in cursor.fetchall()]

    def snapshot(self) -> dict[str, dict[int, tuple[int, int]]]:
        """(nanoseconds on a CPU, nanoseconds waiting for one) of each worker and each backend."""
        return {"worker": _schedstats(self._workers()), "postgres": _schedstats(self._backends())}


def _schedstats(pids: list[int]) -> dict[int, tuple[int, int]]:
    out = {}
    for pid in pids:
        try:
            on_cpu, waiting = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
        except OSError:
            continue
        out[pid] = (int(on_cpu), int(waiting))
    return out


def _spent(before: dict[str, dict[int, tuple[int, int]]], after: dict[str, dict[int, tuple[int, int]]], calls: int) -> dict[str, float]:
    """Milliseconds per call: on a CPU and waiting for one, workers and PostgreSQL backends. A process
    that started during the row (a backend replacing one past CONN_MAX_AGE) counts whole; one that
    ended during it is not counted past the first snapshot."""
    spent = {}
    for side in ("worker", "postgres"):
        for index, name in ((0, "cpu"), (1, "wait")):
            total = sum(stats[index] - before[side].get(pid, (0, 0))[index] for pid, stats in after[side].items())
            spent[f"{side} {name}"] = total / 1e6 / calls
    return spent


def metalyard_server(database_name: str, workers: int) -> tuple[subprocess.Popen, int]:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or ''}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database_name}"
    # ERROR: the floor row's 404s would each write a "Not Found" warning line (NetBox's default logging,
    # with DEBUG off, prints nothing for them either).
    env = {**os.environ, "DATABASE_URL": url, "METALYARD_DEV_KEYS": "1", "LOG_LEVEL": "ERROR"}
    env.pop("DEBUG", None)
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers), "--worker-class", "sync",
                               "--timeout", "600", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "project.wsgi"],
                              cwd=ROOT, env=env, start_new_session=True)
    wait_http(port, "/api/", server)
    return server, port


def alternate(calls: dict[str, Callable[[int], Any]], runs: int, probes: dict[str, Probe],
              warmup: int = 3) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Milliseconds of each system's call, call by call (the system that goes first alternates), and
    where each system's server processes spent their time per call (Probe)."""
    names = list(calls)
    for i in range(warmup):
        for name in names:
            calls[name](i)
    samples: dict[str, list[float]] = {name: [] for name in names}
    before = {name: probes[name].snapshot() for name in names}
    for i in range(runs):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            calls[name](i)
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples, {name: _spent(before[name], probes[name].snapshot(), runs) for name in names}


def _allocator(port: int, headers: dict[str, str], paths: list[str], body: dict, barrier: Any, seconds: float, results: Any) -> None:
    client = Client(port, headers)
    latencies: list[float] = []
    barrier.wait()
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        start = time.perf_counter()
        client("POST", paths[i % len(paths)], body, expect=201)
        latencies.append((time.perf_counter() - start) * 1000)
        i += 1
    results.put(latencies)


def concurrent(port: int, headers: dict[str, str], paths_per_worker: list[list[str]], body: dict, seconds: float) -> tuple[float, list[float]]:
    """Allocations per second and their latencies with one client process per allocator."""
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(paths_per_worker) + 1)
    results = ctx.Queue()
    procs = [ctx.Process(target=_allocator, args=(port, headers, paths, body, barrier, seconds, results)) for paths in paths_per_worker]
    for proc in procs:
        proc.start()
    barrier.wait()
    started = time.monotonic()
    latencies: list[float] = []
    for _ in procs:
        latencies.extend(results.get(timeout=seconds + 900))
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.join(timeout=60)
    return len(latencies) / elapsed, latencies


def side_by_side(args: argparse.Namespace, plan: bench.Shape, supernet: Block, pools: list[Block], rng: random.Random,
                 database_name: str) -> None:
    runs = args.runs if args.runs != 300 else 100
    slow_runs = max(5, runs // 10)  # NetBox takes seconds per call on the /8
    db = dict(connection.settings_dict)
    db["NAME"] = f"netbox_{connection.settings_dict['NAME']}"
    netbox = NetBox(source=args.netbox.resolve(), ref=args.netbox_ref, database=db, redis_url=args.netbox_redis,
                    workers=args.gunicorn_workers, keep_dir=args.netbox_keep.resolve() if args.netbox_keep else None)
    metalyard = None
    try:
        netbox.install()
        netbox.check_redis_empty()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
            template = f' TEMPLATE "{args.netbox_template}"' if args.netbox_template else ""
            cursor.execute(f'CREATE DATABASE "{db["NAME"]}"{template}')
        netbox.configure()
        if args.netbox_template:
            log(f"NetBox: database {db['NAME']} copied from the migrated {args.netbox_template} (no migrate)")
        else:
            netbox.migrate()
        netbox.seed(supernet=str(bench.SUPERNET), pools=plan.pools, projects=bench.PROJECTS,
                    rows=[(pool, network, "active" if kind == Kind.ASSIGNMENT else "reserved", project)
                          for pool, network, _, kind, project, _ in plan.rows])
        from apps.accounts import services as accounts
        from tests.factories import UserFactory

        staff = UserFactory(username="bench-staff", is_staff=True, is_superuser=True)
        _, token = accounts.api_token_create(user=staff, description="bench")
        connections.close_all()
        netbox.start()
        metalyard, metalyard_port = metalyard_server(connection.settings_dict["NAME"], args.gunicorn_workers)
        assert netbox.server is not None
        probes = {"metalyard": Probe(metalyard.pid, connection.settings_dict["NAME"]), "netbox": Probe(netbox.server.pid, db["NAME"])}
        my = Client(metalyard_port, {"X-Auth-Token": token})
        nb = Client(netbox.port, {"Authorization": netbox.authorization})
        nb_page = Client(netbox.port, {"Cookie": netbox.session, "Accept": "text/html"})
        # Every worker of both loads its URL configuration, opens its database connection and has its
        # backend compile the PL/pgSQL it calls on its first requests (~0.5 s for Metalyard's URLconf):
        # done here, not inside the first row's per-request figures.
        for _ in range(10 * args.gunicorn_workers):
            my("GET", "/api/ipam/no-such-endpoint", expect=404)
            my("GET", f"/api/ipam/blocks/{pools[0].pk}/utilisation")
            my("POST", f"/api/ipam/blocks/{pools[0].pk}/allocate", {"prefix_length": 31}, 201)
            nb("GET", "/api/status/")
            nb("GET", f"/api/ipam/prefixes/{netbox.pool_ids[0]}/")
            nb("POST", f"/api/ipam/prefixes/{netbox.pool_ids[0]}/available-prefixes/", {"prefix_length": 31}, 201)
        log(f"NetBox {netbox.version}: " + "; ".join(netbox.notes))
        log(f"both served by gunicorn, {args.gunicorn_workers} sync workers each, on 127.0.0.1; Metalyard on Python "
            f"{platform.python_version()}, Django {django.get_version()}")

        now = dt.datetime.now(dt.UTC)
        bases = [int(ipaddress.ip_network(p).network_address) for p in plan.pools]

        def who(i: int) -> str:
            address = ipaddress.IPv4Address(bases[i % bench.POOLS] + rng.randrange(3124))
            at = now - dt.timedelta(seconds=rng.randrange(365 * 24 * 3600))
            return f"/api/ipam/who-held?address={address}&at={at:%Y-%m-%dT%H:%M:%SZ}"

        my_pool = [p.pk for p in pools]
        nb_pool = netbox.pool_ids
        rows: list[tuple[str, dict[str, list[float]], dict[str, dict[str, float]]]] = []
        table: dict[str, tuple[dict[str, Callable[[int], Any]], int]] = {
            "allocate /31": ({
                "metalyard": lambda i: my("POST", f"/api/ipam/blocks/{my_pool[i % 64]}/allocate", {"prefix_length": 31}, 201),
                "netbox": lambda i: nb("POST", f"/api/ipam/prefixes/{nb_pool[i % 64]}/available-prefixes/",
                                       {"prefix_length": 31}, 201)}, runs),
            "allocate /29": ({
                "metalyard": lambda i: my("POST", f"/api/ipam/blocks/{my_pool[i % 64]}/allocate", {"prefix_length": 29}, 201),
                "netbox": lambda i: nb("POST", f"/api/ipam/prefixes/{nb_pool[i % 64]}/available-prefixes/",
                                       {"prefix_length": 29}, 201)}, runs),
            "free space /16": ({
                "metalyard": lambda i: my("GET", f"/api/ipam/blocks/{my_pool[i % 64]}/free?per_page=50"),
                "netbox": lambda i: nb("GET", f"/api/ipam/prefixes/{nb_pool[i % 64]}/available-prefixes/?limit=50")}, runs),
            "free space /8": ({
                "metalyard": lambda i: my("GET", f"/api/ipam/blocks/{supernet.pk}/free?per_page=50"),
                "netbox": lambda i: nb("GET", f"/api/ipam/prefixes/{netbox.supernet_id}/available-prefixes/?limit=50")}, slow_runs),
            "utilisation /16": ({
                "metalyard": lambda i: my("GET", f"/api/ipam/blocks/{my_pool[i % 64]}/utilisation"),
                "netbox": lambda i: nb_page("GET", f"/ipam/prefixes/{nb_pool[i % 64]}/")}, runs),
            "utilisation /8": ({
                "metalyard": lambda i: my("GET", f"/api/ipam/blocks/{supernet.pk}/utilisation"),
                "netbox": lambda i: nb_page("GET", f"/ipam/prefixes/{netbox.supernet_id}/")}, slow_runs),
            "who-held": ({"metalyard": lambda i: my("GET", who(i))}, runs),
            # What any request costs here before it does anything: the client, gunicorn, Django's
            # middleware and URL resolver answering 404 without touching the database.
            "floor: HTTP + Django 404": ({"metalyard": lambda i: my("GET", "/api/ipam/no-such-endpoint", expect=404)}, runs),
        }
        for name, (calls, count) in table.items():
            rows.append((name, *alternate(calls, count, probes)))
            log(f"  {name}: {count} calls each")

        concurrency: list[tuple[str, dict[str, tuple[float, list[float]]], dict[str, dict[str, float]]]] = []
        workers = args.workers
        for label, spread in (("one pool", False), ("64 pools", True)):
            result: dict[str, tuple[float, list[float]]] = {}
            spent: dict[str, dict[str, float]] = {}
            for system in ("metalyard", "netbox", "metalyard", "netbox"):  # alternating rounds
                ids = my_pool if system == "metalyard" else nb_pool
                template = "/api/ipam/blocks/{}/allocate" if system == "metalyard" else "/api/ipam/prefixes/{}/available-prefixes/"
                per_worker = [[template.format(pk) for pk in (ids[w::workers] if spread else ids[:1])] for w in range(workers)]
                port, headers = (metalyard_port, my.headers) if system == "metalyard" else (netbox.port, nb.headers)
                body = {"prefix_length": 31}
                before = probes[system].snapshot()
                rate, latencies = concurrent(port, headers, per_worker, body, args.seconds / 2)
                this_round = _spent(before, probes[system].snapshot(), len(latencies))
                old_rate, old = result.get(system, (0.0, []))
                result[system] = (old_rate + rate / 2, old + latencies)
                # Per allocation over both rounds (each round weighted by its allocations).
                old_spent, old_count = spent.get(system, {}), len(old)
                spent[system] = {k: (old_spent.get(k, 0.0) * old_count + v * len(latencies)) / (old_count + len(latencies))
                                 for k, v in this_round.items()}
            concurrency.append((f"{workers} allocators, {label}", result, spent))
            log(f"  {workers} concurrent HTTP allocators, {label}: 2 rounds of {args.seconds / 2:.0f} s each, alternating")

        report(rows, concurrency)
        connections.close_all()
        log(f"Metalyard: overlapping active siblings or blocks outside their parent, over all {Block.objects.count():,} rows: "
            f"{bench.overlaps()}")
    finally:
        if metalyard is not None and metalyard.poll() is None:
            os.killpg(metalyard.pid, 15)
            metalyard.wait(timeout=60)
        connections.close_all()
        netbox.cleanup(bench.drop_database)


def report(rows: list[tuple[str, dict[str, list[float]], dict[str, dict[str, float]]]],
           concurrency: list[tuple[str, dict[str, tuple[float, list[float]]], dict[str, dict[str, float]]]]) -> None:
    log("")
    log(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    log(f"{'operation':<28} {'Metalyard p50':>13} {'p99':>9}   {'NetBox p50':>11} {'p99':>10}   {'p50 ratio':>9}")
    for name, samples, _ in rows:
        mp50, mp99 = bench.percentiles(samples["metalyard"])
        if "netbox" in samples:
            np50, np99 = bench.percentiles(samples["netbox"])
            log(f"{name:<28} {mp50:>10.2f} ms {mp99:>6.2f} ms   {np50:>8.1f} ms {np99:>7.1f} ms   {np50 / mp50:>8,.0f}×")
        else:
            log(f"{name:<28} {mp50:>10.2f} ms {mp99:>6.2f} ms   {'—':>11} {'—':>10}   {'—':>9}")
    for name, result, _ in concurrency:
        (mrate, mlat), (nrate, nlat) = result["metalyard"], result["netbox"]
        (mp50, mp99), (np50, np99) = bench.percentiles(mlat), bench.percentiles(nlat)
        log(f"{name:<28} {mp50:>10.2f} ms {mp99:>6.2f} ms   {np50:>8.1f} ms {np99:>7.1f} ms   {np50 / mp50:>8,.0f}×")
        log(f"{'':<28} {mrate:>10,.0f} /s {'':>9}   {nrate:>8.1f} /s {'':>10}   {mrate / nrate:>8,.0f}× allocations/s")
    log("")
    log("Where each request's time went on the server side, mean ms per request (/proc/<pid>/schedstat of the gunicorn")
    log("workers and of their PostgreSQL backends): on a CPU, and runnable but waiting for a CPU (the shared cores).")
    log(f"{'operation':<28} {'system':<10} {'worker CPU':>10} {'waits CPU':>10} {'PG CPU':>8} {'waits CPU':>10}")
    for name, _samples, spent in [*rows, *[(name, {}, spent) for name, _, spent in concurrency]]:
        for system, figures in spent.items():
            log(f"{name:<28} {system:<10} {figures['worker cpu']:>10.2f} {figures['worker wait']:>10.2f} "
                f"{figures['postgres cpu']:>8.2f} {figures['postgres wait']:>10.2f}")
