"""Benchmark: onboard 1,000 servers from one CSV file, then re-import it (nothing to change).

Runs in a throw-away test database (created and dropped here) on whatever DATABASE_URL points at:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/import_csv.py
Prints wall time and SQL query count for each phase. Target: the import under 20 s on PostgreSQL,
and a query count that does not depend on the number of rows.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, teardown_databases  # noqa: E402
from migrated import setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script

SERVERS_PER_RACK = 40  # U1–U40; the two switches sit in U41 and U42


def build_site(servers: int) -> None:
    from apps.facilities.services import facility_create, metro_create, rack_create
    from apps.hardware.models import Plan, Switch, SwitchPort, sync_rack_units

    metro = metro_create(code="bx", name="Bench", country="US")
    facility = facility_create(code="bx1", metro=metro, name="Bench 1")
    Plan.objects.create(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", cpu_cores=24, ram_gb=64)
    switches = []
    for r in range((servers + SERVERS_PER_RACK - 1) // SERVERS_PER_RACK):
        rack = rack_create(facility=facility, name=f"r{r:03d}")
        switches += [Switch(hostname=f"bx1-r{r:03d}-sw{n}", facility=facility, rack=rack, position_u=40 + n, mgmt_host="127.0.0.1",
                            username="netconf", password="secret") for n in (1, 2)]
    Switch.objects.bulk_create(switches)
    sync_rack_units(switches)
    # Half the ports exist already, half are created by the import (both paths are exercised).
    SwitchPort.objects.bulk_create([SwitchPort(switch=s, name=f"xe-0/0/{p}") for s in switches for p in range(0, SERVERS_PER_RACK, 2)])


def make_csv(servers: int) -> str:
    lines = ["serial,asset_tag,plan,facility,rack,u,bmc_protocol,bmc_host,bmc_port,bmc_username,bmc_password,"
             "nic1_name,nic1_mac,nic1_switch,nic1_port,nic2_name,nic2_mac,nic2_switch,nic2_port"]
    for i in range(servers):
        r, slot = divmod(i, SERVERS_PER_RACK)
        proto = "redfish" if i % 5 == 0 else "ipmi"
        lines.append(f"BX{i:06d},AT{i:06d},c3.small.x86,bx1,r{r:03d},{slot + 1},{proto},10.{r // 250}.{r % 250}.{slot + 10},,admin,bmc-pw-{i},"
                     f"eth0,0c:c4:7a:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x},bx1-r{r:03d}-sw1,xe-0/0/{slot},"
                     f"eth1,0c:c4:7b:{i >> 16:02x}:{(i >> 8) & 255:02x}:{i & 255:02x},bx1-r{r:03d}-sw2,xe-0/0/{slot}")
    return "\n".join(lines) + "\n"


def timed(label: str, text: str) -> None:
    from apps.hardware.onboarding import rack_import

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = rack_import(text=text)
        elapsed = time.perf_counter() - started
    print(f"{label:<10} {elapsed:6.2f} s  {len(queries.captured_queries):4d} queries  {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    args = parser.parse_args()
    old = setup_bench_databases()
    try:
        build_site(args.servers)
        text = make_csv(args.servers)
        print(f"database: {connection.vendor}; file: {args.servers} servers, {len(text.splitlines()) - 1} lines, {len(text) // 1024} KiB")
        timed("import", text)
        timed("re-import", text)
        timed("update", text.replace(",bmc-pw-", ",new-pw-"))
        from apps.hardware.models import Cable, NetworkInterface, RackUnit, Server

        print(f"in the database: {Server.objects.count()} servers, {NetworkInterface.objects.count()} NICs, "
              f"{Cable.objects.count()} cables, {RackUnit.objects.count()} rack units")
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
