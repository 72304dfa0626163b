"""Monthly invoices: what is on them, that an issued one never changes, credits, and the meter that can die."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from apps.accounts.models import Organization
from apps.billing.models import Invoice, InvoiceLine, PriceKind
from apps.billing.services import credit_add, invoice_issue, invoices_issue, price_set
from apps.installs.models import DeviceState
from tests.billing.conftest import at, live, move
from tests.factories import ProjectFactory

ROOT = Path(__file__).resolve().parents[2]


def snapshot(invoice: Invoice) -> tuple:
    invoice = Invoice.objects.get(pk=invoice.pk)
    lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("id").values_list(
        "item_type", "service_id", "unit", "quantity", "unit_price", "amount", "start", "end"))
    return (invoice.number, invoice.amount, invoice.credits_applied, invoice.issued_at, lines)


@pytest.mark.django_db
def test_an_invoice_has_a_line_per_device_and_price_and_its_total(make_device) -> None:
    first = live(make_device(), "2026-11-10 10:00", "2026-11-10 13:10")
    second = live(make_device(project=first.project), "2026-11-20 00:00", "2026-11-20 00:30")
    with time_machine.travel(at("2026-12-01 06:00"), tick=False):
        invoice = invoice_issue(organization=first.project.organization, month="2026-11")
    lines = list(invoice.lines.order_by("start").values_list("service_id", "quantity", "unit_price", "amount"))
    assert lines == [(str(first.pk), Decimal(2), Decimal(1), Decimal("2.00")), (str(first.pk), Decimal(2), Decimal(2), Decimal("4.00")),
                     (str(second.pk), Decimal(1), Decimal(2), Decimal("2.00"))]
    assert invoice.amount == Decimal("8.00") and invoice.currency == "USD" and invoice.balance == Decimal("8.00")
    assert (invoice.period_start.isoformat(), invoice.period_end.isoformat()) == ("2026-11-01", "2026-11-30")


@pytest.mark.django_db
def test_a_month_that_is_not_over_cannot_be_invoiced(make_device) -> None:
    device = live(make_device(), "2026-11-10 10:00")
    with time_machine.travel(at("2026-11-30 23:00"), tick=False), pytest.raises(ValidationError, match="not over"):
        invoice_issue(organization=device.project.organization, month="2026-11")


@pytest.mark.django_db
def test_an_issued_invoice_never_changes(make_device, site) -> None:
    device = live(make_device(), "2026-11-10 10:00")
    org = device.project.organization
    with time_machine.travel(at("2026-12-01 06:00"), tick=False):
        invoice = invoice_issue(organization=org, month="2026-11")
    before = snapshot(invoice)
    # Issuing again (another meter run) returns it as it was.
    with time_machine.travel(at("2026-12-02 06:00"), tick=False):
        assert invoice_issue(organization=org, month="2026-11").pk == invoice.pk
    # Late history (the device deleted in December) and a later price do not reach it; a price back-dated
    # into the invoiced month is refused.
    move(device, DeviceState.DEPROVISIONING, "2026-12-03 00:00")
    price_set(kind=PriceKind.DEVICE, plan=site["plan"], amount=Decimal("9"), valid_from=at("2026-12-05 00:00"))
    with pytest.raises(ValidationError, match="issued"):
        price_set(kind=PriceKind.DEVICE, plan=site["plan"], amount=Decimal("9"), valid_from=at("2026-11-20 00:00"))
    # Neither the models nor SQL may edit or delete it.
    with pytest.raises(PermissionError):
        invoice.save()
    with pytest.raises(PermissionError):
        invoice.lines.first().delete()
    if connection.vendor == "postgresql":
        for statement in ("UPDATE billing_invoice SET amount = 0", "DELETE FROM billing_invoiceline"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                connection.cursor().execute(statement)
    # A correction is a credit: a negative line on the next invoice; the corrected one stays.
    credit_add(organization=org, amount=Decimal("10"), reason="outage on Nov 12", corrects=invoice)
    with time_machine.travel(at("2027-01-01 06:00"), tick=False):
        december = invoice_issue(organization=org, month="2026-12")
    assert snapshot(invoice) == before
    credit_line = december.lines.get(item_type="credit")
    assert credit_line.amount == Decimal("-10.00") and "outage" in credit_line.description
    assert december.credits_applied == Decimal("10.00") and december.balance == december.amount - Decimal("10.00")


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_meter_killed_mid_run_then_run_twice_gives_the_same_invoices(site, make_device) -> None:
    devices = []
    for index in range(6):
        device = live(make_device(project=ProjectFactory()), f"2026-11-{10 + index} 10:00", f"2026-11-{10 + index} {11 + index}:30")
        devices.append(device)
    orgs = list(Organization.objects.filter(projects__devices__in=devices).order_by("pk"))
    env = {**os.environ, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "invoices_issue", "--month", "2026-11"]
    # Hold the third organization's row lock: the meter issues two invoices, then waits there; kill it.
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=orgs[2].pk)
        meter = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while Invoice.objects.count() < 2 and time.monotonic() < deadline and meter.poll() is None:
                time.sleep(0.2)
            time.sleep(0.5)  # it is now waiting on the lock, its third invoice half-computed
            assert meter.poll() is None, meter.communicate()
            meter.send_signal(signal.SIGKILL)
            meter.wait(timeout=30)
        finally:
            if meter.poll() is None:
                meter.kill()
    assert Invoice.objects.count() == 2  # whole invoices only, none half-written
    runs = [subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert "issued: 4" in runs[0].stdout and "issued: 0, already: 6" in runs[1].stdout
    issued = {invoice.organization_id: snapshot(invoice) for invoice in Invoice.objects.all()}
    assert set(issued) == {org.pk for org in orgs}
    # Each is exactly its device's usage: 10:00 → (11 + i):30 is 2 + i started hours; at 1.00 on Nov 10 (before
    # the 12:00 change), at 2.00 from Nov 11 on.
    for index, device in enumerate(devices):
        expected = Decimal(2) if index == 0 else Decimal(2 * (2 + index))
        assert issued[device.project.organization_id][1] == expected, index
    # A further run changes nothing.
    invoices_issue(month="2026-11")
    assert {invoice.organization_id: snapshot(invoice) for invoice in Invoice.objects.all()} == issued
