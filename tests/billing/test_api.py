"""The billing API in Equinix Metal shapes, its tenancy (another tenant's ids are 404), and the usage export
(staff endpoint and manage.py usage_export)."""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.billing.services import invoice_issue
from tests.billing.conftest import at, live
from tests.factories import ProjectFactory, UserFactory
from tests.installs.test_api import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(make_device):
    mine, theirs = ProjectFactory(), ProjectFactory()
    alice, mallory, dev = UserFactory(), UserFactory(), UserFactory()
    accounts.membership_set(user=alice, organization=mine.organization, role=Role.OWNER)
    accounts.membership_set(user=dev, project=mine, role=Role.COLLABORATOR)
    accounts.membership_set(user=mallory, organization=theirs.organization, role=Role.OWNER)
    device = live(make_device(project=mine), "2026-11-10 10:00", "2026-11-10 13:10")
    other = live(make_device(project=theirs), "2026-11-10 10:00", "2026-11-10 11:00")
    with time_machine.travel(at("2026-12-01 06:00"), tick=False):
        invoice = invoice_issue(organization=mine.organization, month="2026-11")
        their_invoice = invoice_issue(organization=theirs.organization, month="2026-11")
    return {"mine": mine, "theirs": theirs, "alice": alice, "mallory": mallory, "dev": dev, "device": device, "other": other,
            "invoice": invoice, "their_invoice": their_invoice}


NOVEMBER = "created[after]=2026-11-01T00:00:00Z&created[before]=2026-12-01T00:00:00Z"


@pytest.mark.parametrize("base", ["/metal/v1"])
def test_project_and_device_usages(billed, base) -> None:
    client = client_for(billed["dev"])
    usages = client.get(f"{base}/projects/{billed['mine'].pk}/usages?{NOVEMBER}").json()["usages"]
    assert [(u["type"], u["name"], u["quantity"], u["price"], u["total"], u["unit"]) for u in usages] == [
        ("device", billed["device"].hostname, "2.0000", "1.0000", "2.00", "hour"),
        ("device", billed["device"].hostname, "2.0000", "2.0000", "4.00", "hour")]
    assert usages[0]["plan"] == billed["device"].plan.slug and usages[0]["facility"] == billed["device"].facility.code
    # A window that holds only the first hour: the hours that start in it.
    narrow = client.get(f"{base}/projects/{billed['mine'].pk}/usages?created[after]=2026-11-10T10:00:00Z&created[before]=2026-11-10T11:00:00Z")
    assert [u["quantity"] for u in narrow.json()["usages"]] == ["1.0000"]
    device_usages = client.get(f"{base}/devices/{billed['device'].pk}/usages?{NOVEMBER}").json()["usages"]
    assert [(u["quantity"], u["total"]) for u in device_usages] == [("2.0000", "2.00"), ("2.0000", "4.00")]
    bad = client.get(f"{base}/projects/{billed['mine'].pk}/usages?created[after]=yesterday")
    assert bad.status_code == 422 and "created[after]" in bad.json()["errors"][0]


def test_invoices_in_the_real_shape(billed) -> None:
    client = client_for(billed["alice"])
    listed = client.get(f"/metal/v1/organizations/{billed['mine'].organization.pk}/invoices").json()
    assert [i["id"] for i in listed["invoices"]] == [str(billed["invoice"].pk)] and listed["meta"]["total"] == 1
    invoice = client.get(f"/metal/v1/invoices/{billed['invoice'].pk}").json()
    assert invoice["amount"] == 6.0 and invoice["balance"] == 6.0 and invoice["currency"] == "USD" and invoice["target_date"] == "2026-11-01"
    assert [(i["item_type"], i["quantity"], i["unit_price"], i["amount"]) for i in invoice["items"]] == [
        ("device", 2.0, 1.0, 2.0), ("device", 2.0, 2.0, 4.0)]
    assert invoice["items"][0]["project_id"] == str(billed["mine"].pk) and invoice["items"][0]["service_id"] == str(billed["device"].pk)


def test_another_tenants_ids_are_404(billed) -> None:
    mallory = client_for(billed["mallory"])
    for path in (f"/metal/v1/projects/{billed['mine'].pk}/usages", f"/metal/v1/devices/{billed['device'].pk}/usages",
                 f"/metal/v1/organizations/{billed['mine'].organization.pk}/invoices", f"/metal/v1/invoices/{billed['invoice'].pk}"):
        assert mallory.get(path).status_code == 404, path
    # A project member (not an organization owner or admin) does not see the organization's invoices either.
    dev = client_for(billed["dev"])
    assert dev.get(f"/metal/v1/invoices/{billed['invoice'].pk}").status_code == 404
    assert dev.get(f"/metal/v1/organizations/{billed['mine'].organization.pk}/invoices").status_code == 404
    # … nor a token limited to one project.
    scoped = client_for(billed["alice"], project=billed["mine"])
    assert scoped.get(f"/metal/v1/invoices/{billed['invoice'].pk}").status_code == 404
    assert client_for(billed["mallory"]).get(f"/metal/v1/invoices/{billed['their_invoice'].pk}").status_code == 200


def test_usage_export_command_and_staff_endpoint(billed, staff_user, capsys) -> None:
    call_command("usage_export", "--month", "2026-11", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted((r["name"], r["quantity"], r["total"]) for r in rows) == sorted([
        (billed["device"].hostname, "2.0000", "2.00"), (billed["device"].hostname, "2.0000", "4.00"), (billed["other"].hostname, "1.0000", "1.00")])
    call_command("usage_export", "--month", "2026-11", "--format", "jsonl")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(Decimal(line["total"]) for line in lines) == Decimal("7.00") and lines[0]["currency"] == "USD"
    for bad in (["--month", "2026-13"], ["--month", "November"], ["--month", "2026-11", "--format", "xml"]):
        with pytest.raises(CommandError):
            call_command("usage_export", *bad)
    staff = client_for(staff_user)
    answer = staff.get("/api/billing/usage-export?month=2026-11&format=jsonl")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in answer.content.decode().splitlines()] == lines
    assert staff.get("/api/billing/usage-export?month=2026-11&format=csv").content.decode().startswith("organization_id,project_id")
    assert staff.get("/api/billing/usage-export?month=11-2026").status_code == 422
    assert client_for(billed["alice"]).get("/api/billing/usage-export?month=2026-11").status_code == 403
