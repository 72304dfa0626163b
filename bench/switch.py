"""Benchmark: 48 switches × 40 ports reconfigured at once through the task queue against lab switches.

Every port change is its own transaction (as 1,920 independent installs would make them), each
queueing a push task; django-q2 workers (a real `manage.py qcluster`) push over NETCONF to 48 emulated
Junos switches held by this process. Then the same desired state is re-applied (nothing to commit).
Then customer networking: BGP sessions on half the ports and a VLAN change on a quarter. Prints commits
made, wall time, and p50/p99 per push.

Needs PostgreSQL; runs in a throw-away database (created and dropped here):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/switch.py
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from children import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
os.environ.pop("METALYARD_TASKS_SYNC", None)  # the point is the real queue


def use_throwaway_database() -> tuple[str, str]:
    import dj_database_url

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("bench/switch.py needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/switch.py")
    cfg = dj_database_url.parse(base)
    name = f"metalyard_switchbench_{uuid.uuid4().hex[:8]}"
    admin = f"host={cfg['HOST'] or '127.0.0.1'} port={cfg['PORT'] or 5432} user={cfg['USER'] or 'postgres'} dbname=postgres"
    if cfg.get("PASSWORD"):
        admin += f" password={cfg['PASSWORD']}"
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + name
    return admin, name


def drop_database(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=48)
    parser.add_argument("--ports", type=int, default=40)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting after this many seconds")
    parser.add_argument("--customer-only", action="store_true",
                        help="after the burst, go straight to the customer-networking phase (skip the trickle and the re-apply)")
    args = parser.parse_args()
    admin, dbname = use_throwaway_database()
    held: dict = {}  # what run() started, stopped here even when it fails
    try:
        import django

        django.setup()
        import logging

        from django.core.management import call_command

        logging.getLogger("django-q").setLevel(logging.WARNING)

        from migrated import create_database  # bench/migrated.py, beside this script

        create_database(dbname)  # a copy of the migrated template; migrate then has nothing to do
        call_command("migrate", verbosity=0)
        run(args, held)
    finally:
        stop_everything(held, admin, dbname)


def stop_everything(held: dict, admin: str, dbname: str) -> None:
    """Each step on its own, so that one failing (or a second Ctrl-C) does not leave the others running."""
    worker, lab = held.get("worker"), held.get("lab")
    try:
        if worker is not None:
            stop_process_group(worker)
    finally:
        try:
            if lab is not None:
                lab.stop()
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(admin, dbname)


def run(args: argparse.Namespace, held: dict) -> None:
    from django.db import transaction
    from django.db.models import F
    from django_q.models import OrmQ, Schedule

    from apps.facilities.models import Facility, Metro
    from apps.hardware.models import Switch, SwitchPort
    from apps.lab.junos import JunosLab
    from apps.network import services
    from apps.network.models import ConfigPush, PortConfig, PortMode, PushOutcome

    Schedule.objects.all().delete()  # only the pushes this benchmark queues
    metro = Metro.objects.create(code="bx", name="Bench", country="US")
    facility = Facility.objects.create(code="bx1", metro=metro, name="Bench 1")
    lab = held["lab"] = JunosLab(minute_seconds=60).start()
    switches = []
    for s in range(args.switches):
        emulated = lab.add_switch(hostname=f"bx1-sw{s:02d}", username="netconf", password="bench-secret")
        switches.append(Switch(hostname=emulated.hostname, facility=facility, mgmt_host="127.0.0.1", mgmt_port=emulated.port, model="qfx5120-48y",
                               username="netconf", password="bench-secret", host_key_fingerprint=emulated.fingerprint))
    Switch.objects.bulk_create(switches)
    SwitchPort.objects.bulk_create([SwitchPort(switch=sw, name=f"xe-0/0/{p}") for sw in switches for p in range(args.ports)])
    ports = list(SwitchPort.objects.select_related("switch").order_by("name", "switch__hostname"))  # interleaved across switches

    env = {**os.environ, "Q_WORKERS": str(args.workers), "LOG_LEVEL": "WARNING"}
    env.pop("METALYARD_TASKS_SYNC", None)
    print(f"{args.switches} lab switches × {args.ports} ports = {len(ports)} ports; {args.workers} django-q2 workers (ORM broker, PostgreSQL)")

    def wait_applied(label: str, since_pk: int, started: float) -> None:
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            pending = PortConfig.objects.filter(desired_version__gt=F("applied_version")).count()
            running = ConfigPush.objects.filter(pk__gt=since_pk, outcome=PushOutcome.RUNNING).count()
            if pending == 0 and running == 0 and not OrmQ.objects.exists():
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
        pushes = list(ConfigPush.objects.filter(pk__gt=since_pk))
        durations = [p.duration_ms / 1000 for p in pushes if p.duration_ms is not None]
        by_outcome: dict[str, int] = {}
        for p in pushes:
            by_outcome[p.outcome] = by_outcome.get(p.outcome, 0) + 1
        pending = PortConfig.objects.filter(desired_version__gt=F("applied_version")).count()
        print(f"{label}: wall {wall:.1f} s; pushes {len(pushes)} ({', '.join(f'{n} {k}' for k, n in sorted(by_outcome.items()))}); "
              f"ports still pending {pending}")
        if durations:
            print(f"{label}: per push p50 {statistics.median(durations):.2f} s, p99 {percentile(durations, 0.99):.2f} s, "
                  f"max {max(durations):.2f} s")

    commits_so_far = [0]

    def report_commits(label: str, changes: int | None = None) -> None:
        records = [c for sw in lab.switches.values() for c in sw.commits]
        confirmed = sum(1 for c in records if c.confirmed_minutes) - commits_so_far[0]
        commits_so_far[0] += confirmed
        print(f"{label}: Junos commits made: {confirmed} `commit confirmed` (+ as many confirming commits), "
              f"{confirmed / max(1, args.switches):.2f} per switch, for {changes if changes is not None else len(ports)} port changes")

    def change_every_port(description: str) -> None:
        for index, port in enumerate(ports):
            with transaction.atomic():  # one transaction, and so one queued push task, per port
                services.port_config_set(port=port, mode=PortMode.PROVISIONED, description=f"metalyard BX{index:05d} {description}", mtu=9216,
                                         addresses=[f"147.{75 + index // 32768}.{index // 128 % 256}.{index % 128 * 2}/31",
                                                    f"2604:1380:{index:x}::/127"], reason="bench")

    # Phase 1 (burst): all 1,920 changes are committed and queued, then the workers start.
    started = time.monotonic()
    change_every_port("eth0")
    print(f"burst: {len(ports)} port changes committed, {OrmQ.objects.count()} push tasks queued, in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    held["worker"] = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_applied("burst (from worker start)", 0, started)
    report_commits("burst")

    if args.customer_only:
        customer_networking(args, ports, wait_applied, report_commits)
        return

    # Phase 2 (trickle): the same 1,920 changes again (new descriptions) while the workers run, ports of
    # all switches interleaved: the worst order for coalescing.
    last = ConfigPush.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.monotonic()
    change_every_port("eth0 (moved)")
    print(f"trickle: {len(ports)} port changes committed one by one while pushing, in {time.monotonic() - started:.1f} s")
    wait_applied("trickle (from first change)", last, started)
    report_commits("trickle")

    # Phase 3: the same desired state again: every switch is pushed, nothing is committed.
    last = ConfigPush.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.monotonic()
    for sw in Switch.objects.all():
        services.switch_reapply(switch=sw, reason="bench: re-apply")
    wait_applied("re-apply", last, started)
    report_commits("re-apply")

    customer_networking(args, ports, wait_applied, report_commits)


def customer_networking(args: argparse.Namespace, ports: list, wait_applied, report_commits) -> None:  # noqa: ANN001 - run()'s reporters
    from django.db import transaction

    from apps.network import services
    from apps.network.models import ConfigPush, PortMode

    # Phase 4 (customer networking): BGP on half the ports (a session with its group, import policy and a
    # prefix list of 4 blocks), a VLAN change on a quarter (the port becomes a trunk of one of 8 VLANs, so the
    # switches' vlans stanzas change too); one transaction per port, while the workers run.
    last = ConfigPush.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.monotonic()
    changed = 0
    for index, port in enumerate(ports):
        with transaction.atomic():
            if index % 2 == 0:
                switch_side = ipaddress.ip_interface(f"147.{75 + index // 32768}.{index // 128 % 256}.{index % 128 * 2}/31")
                bgp = {"config": "", "local_as": 65530, "peer_as": 65000, "max_prefix": 10, "md5": 0,
                       "peers": [{"family": 4, "neighbor": str(switch_side.ip + 1), "default_route": False,
                                  "prefixes": [str(switch_side.network)] + [f"198.{18 + k}.{index // 256 % 256}.{index % 256 // 4 * 4}/30"
                                                                             for k in range(3)]}]}
                services.port_config_set(port=port, mode=PortMode.PROVISIONED, description=f"metalyard BX{index:05d} eth0 (moved)", mtu=9216,
                                         addresses=[switch_side.with_prefixlen, f"2604:1380:{index:x}::/127"], bgp=bgp, reason="bench: BGP")
            elif index % 4 == 1:
                services.port_config_set(port=port, mode=PortMode.LAYER2, description=f"metalyard BX{index:05d} eth0 layer2", mtu=9216,
                                         vlans=[1000 + index % 8], reason="bench: VLAN")
            else:
                continue
            changed += 1
    print(f"customer networking: {changed} port changes ({len(ports[::2])} BGP, {len(ports[1::4])} VLAN) committed one by one "
          f"while pushing, in {time.monotonic() - started:.1f} s")
    wait_applied("customer networking (from first change)", last, started)
    report_commits("customer networking", changed)


if __name__ == "__main__":
    main()
