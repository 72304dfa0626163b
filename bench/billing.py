"""Benchmark: rate a month of 10,000 devices and issue every organization's invoice; time the usage API.

Builds, in a throw-away test database (created and dropped here) on whatever DATABASE_URL points at,
200 organizations with 5 projects each (1,000 projects) and 10,000 devices, and a month (2026-11) of
churn written as the device state history billing reads (audit_statechange, COPY'd in): every device is
ordered, provisioned, power-cycled about once a day, now and then reinstalled, and a third of them are deleted
and ordered again during the month — about a million state changes. The price book has a price change in
the middle of the month. Then:
  1. the meter (`invoices_issue`): rate the month from the history and issue all invoices — wall time;
  2. GET /metal/v1/projects/{id}/usages for random projects through the whole Django stack — p50/p99.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/billing.py
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
# A benchmark drives the API from a few tokens and one address as fast as it can: its rates are raised (not switched off).
os.environ.setdefault("METALYARD_THROTTLE_API_TOKEN", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_API_ADDRESS", "100000000/minute")
os.environ.setdefault("METALYARD_THROTTLE_MACHINE_ADDRESS", "100000000/minute")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_databases  # noqa: E402
from migrated import setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script

UTC = dt.UTC
MONTH = "2026-11"
START = dt.datetime(2026, 11, 1, tzinfo=UTC)
END = dt.datetime(2026, 12, 1, tzinfo=UTC)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def lifecycle(rng: random.Random, begin: dt.datetime, until: dt.datetime) -> tuple[list[tuple[str, str, dt.datetime]], bool]:
    """One device's state changes from its order at `begin`: provisioned in minutes, power-cycled about once a day,
    sometimes reinstalled; deleted before `until` or not. Returns (changes, deleted)."""
    changes = []
    now = begin

    def to(source: str, target: str, after: float) -> None:
        nonlocal now
        now = now + dt.timedelta(seconds=after)
        changes.append((source, target, now))

    to("queued", "provisioning", rng.uniform(5, 60))
    to("provisioning", "active", rng.uniform(180, 400))
    while True:
        nxt = now + dt.timedelta(hours=rng.uniform(18, 42))
        if nxt >= until:
            return changes, False
        roll = rng.random()
        if roll < 0.03:
            to("active", "deprovisioning", (nxt - now).total_seconds())
            to("deprovisioning", "deleted", rng.uniform(120, 300))
            return changes, True
        if roll < 0.10:
            to("active", "reinstalling", (nxt - now).total_seconds())
            to("reinstalling", "active", rng.uniform(180, 400))
        else:
            to("active", "powering_off", (nxt - now).total_seconds())
            to("powering_off", "inactive", rng.uniform(5, 30))
            to("inactive", "powering_on", rng.uniform(30, 600))
            to("powering_on", "active", rng.uniform(5, 30))


def build(args: argparse.Namespace) -> list:
    from apps.accounts.models import Organization, Project
    from apps.billing.models import Price, PriceKind
    from apps.facilities.models import Facility, Metro
    from apps.hardware.models import Plan
    from apps.installs.models import Device, OperatingSystem

    rng = random.Random(20261101)
    metro = Metro.objects.create(code="da", name="Dallas", country="US")
    facility = Facility.objects.create(code="da11", metro=metro, name="Dallas 11")
    plans = [Plan.objects.create(slug=slug, name=slug, cpu_model="x", ram_gb=64, price_hourly=price)
             for slug, price in (("c3.small.x86", Decimal("0.50")), ("m3.large.x86", Decimal("2.00")), ("s3.xlarge.x86", Decimal("2.80")))]
    os_ = OperatingSystem.objects.create(slug="ubuntu_24_04", name="Ubuntu", distro="ubuntu", version="24.04", image_url="/x.img",
                                         image_sha256="0" * 64, image_size=1)
    for plan in plans:
        Price.objects.create(kind=PriceKind.DEVICE, plan=plan, amount=plan.price_hourly, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
        Price.objects.create(kind=PriceKind.DEVICE, plan=plan, amount=plan.price_hourly * Decimal("1.1"), valid_from=dt.datetime(2026, 11, 15, tzinfo=UTC))
    orgs = Organization.objects.bulk_create([Organization(name=f"Org {i}", slug=f"org-{i}") for i in range(args.organizations)])
    projects = Project.objects.bulk_create([Project(organization=orgs[i % len(orgs)], name=f"p{i}") for i in range(args.projects)])
    devices, rows = [], []
    per_project = args.devices // len(projects)
    for project in projects:
        for slot in range(per_project):
            # A third of the slots churn: the device is deleted during the month and a new one ordered.
            begin = START - dt.timedelta(days=rng.uniform(0, 20)) if slot % 3 else START + dt.timedelta(days=rng.uniform(0, 10))
            while begin < END:
                device_id = uuid.uuid4()
                changes, deleted = lifecycle(rng, begin, END)
                devices.append(Device(id=device_id, project=project, hostname=f"h{len(devices)}", plan=plans[len(devices) % 3], metro=metro,
                                      facility=facility, operating_system=os_, state="deleted" if deleted else changes[-1][1]))
                rows += [(device_id, source, target, at) for source, target, at in changes]
                if not deleted:
                    break
                begin = changes[-1][2] + dt.timedelta(hours=rng.uniform(1, 48))
    Device.objects.bulk_create(devices, batch_size=5000)
    with connection.cursor() as cursor, cursor.connection.cursor().copy(
            "COPY audit_statechange (model, object_id, source, target, at) FROM STDIN") as copy:
        for device_id, source, target, at in rows:
            copy.write_row(("installs.device", device_id, source, target, at))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_statechange; ANALYZE installs_device")
    print(f"built: {len(orgs)} organizations, {len(projects)} projects, {len(devices)} devices, {len(rows)} state changes")
    return projects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organizations", type=int, default=200)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=10000, help="device slots (churn adds the re-orders)")
    parser.add_argument("--requests", type=int, default=300, help="usage API calls to time")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/billing.py needs PostgreSQL: DATABASE_URL=postgres://…")

    setup_test_environment()  # the test client's host is allowed
    old_config = setup_bench_databases()
    try:
        started = time.monotonic()
        projects = build(args)
        print(f"build: {time.monotonic() - started:.1f} s")
        from django.contrib.auth import get_user_model
        from django.test import Client

        from apps.accounts import services as accounts
        from apps.accounts.models import Role
        from apps.billing.models import Invoice, InvoiceLine
        from apps.billing.services import invoices_issue

        started = time.monotonic()
        counts = invoices_issue(month=MONTH)
        took = time.monotonic() - started
        total = sum(Invoice.objects.values_list("amount", flat=True))
        print(f"rate the month and issue all invoices: {took:.2f} s ({counts}; {InvoiceLine.objects.count()} lines, total {total})")

        user = get_user_model().objects.create(username="bench")
        rng = random.Random(7)
        sample = rng.sample(projects, min(len(projects), args.requests))
        for project in {p.organization_id: p for p in sample}.values():
            accounts.membership_set(user=user, organization=project.organization, role=Role.OWNER)
        _, key = accounts.api_token_create(user=user)
        client = Client(HTTP_X_AUTH_TOKEN=key)
        timings = []
        for project in sample:
            begin = time.perf_counter()
            answer = client.get(f"/metal/v1/projects/{project.pk}/usages?created[after]=2026-11-01T00:00:00Z&created[before]=2026-12-01T00:00:00Z")
            timings.append((time.perf_counter() - begin) * 1000)
            assert answer.status_code == 200, answer.content[:300]
        print(f"GET /projects/{{id}}/usages (November, {len(answer.json()['usages'])} usages in the last): n={len(timings)} "
              f"p50={percentile(timings, 50):.1f} ms p99={percentile(timings, 99):.1f} ms max={max(timings):.1f} ms "
              f"mean={statistics.fmean(timings):.1f} ms")
    finally:
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
