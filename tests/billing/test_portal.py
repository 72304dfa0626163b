"""The customer console: month-to-date usage on the project's Usage tab, the organization's invoices for its owners."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.billing.services import invoice_issue
from tests.billing.conftest import at, live
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_usage_this_month_and_invoices(make_device) -> None:
    device = make_device()
    project = device.project
    owner, member, stranger = UserFactory(), UserFactory(), UserFactory()
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    accounts.membership_set(user=member, project=project, role=Role.COLLABORATOR)
    live(device, "2026-11-30 10:00", "2026-11-30 11:00")
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = make_device(project=project, hostname="current1")
    start = month_start + dt.timedelta(minutes=5)
    live(this_month, start.strftime("%Y-%m-%d %H:%M"), (start + dt.timedelta(hours=2, minutes=30)).strftime("%Y-%m-%d %H:%M"))
    with time_machine.travel(at("2026-12-01 06:00"), tick=False):
        invoice = invoice_issue(organization=project.organization, month="2026-11")

    client = Client()
    client.force_login(member)
    page = client.get(f"/projects/{project.pk}/usage/").content.decode()  # the project's Usage tab
    assert "Usage this month" in page and "current1" in page and "3.0000 hour" in page  # 2 h 30 min: 3 started hours
    assert device.hostname not in page.split("Usage this month")[1].split("Members")[0]  # November's device is not this month's
    assert "Invoices" not in client.get("/").content.decode()  # a project member does not see the organization's bills
    assert client.get(f"/invoices/{invoice.pk}/").status_code == 404

    client.force_login(owner)
    assert invoice.number in client.get("/").content.decode()
    detail = client.get(f"/invoices/{invoice.pk}/")
    assert detail.status_code == 200 and device.hostname in detail.content.decode() and "2.00" in detail.content.decode()
    client.force_login(stranger)
    assert client.get(f"/invoices/{invoice.pk}/").status_code == 404


def test_the_staff_report(make_device, site) -> None:
    from apps.hardware.services import server_transition
    from tests.hardware.factories import ServerFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    device = live(make_device(), "2026-11-10 10:00", "2026-11-10 13:10")
    with time_machine.travel(at("2026-12-01 06:00"), tick=False):
        invoice_issue(organization=device.project.organization, month="2026-11")
    first, second = ServerFactory(facility=site["facility"], plan=site["plan"]), ServerFactory(facility=site["facility"], plan=site["plan"])
    for when, server, state in (("2026-11-29 12:00", second, "maintenance"), ("2026-11-30 12:00", first, "allocated"),
                                ("2026-11-30 13:00", second, "ready"), ("2026-12-01 12:00", second, "allocated")):
        with time_machine.travel(at(when), tick=False):
            server_transition(server=server, to=state, reason="test")
    client = Client()
    client.force_login(staff)
    november = client.get("/admin/billing/price/report/?month=2026-11").content.decode()
    assert f"<td>{site['plan'].slug}</td><td>6.00</td>" in november  # 2 h at 1.00 + 2 h at 2.00
    december = client.get("/admin/billing/price/report/?month=2026-12").content.decode()
    assert "<td>2026-12-01</td><td>50.0 %</td>" in december and "<td>2026-12-02</td><td>100.0 %</td>" in december
    assert "<polyline" in december
    assert "not a month" in client.get("/admin/billing/price/report/?month=nope", follow=True).content.decode()
    client.force_login(UserFactory())
    assert client.get("/admin/billing/price/report/").status_code == 302  # to the staff login
