"""The staff hardware API: filters, detail without secrets, transitions (409 when refused), commissioning,
CSV import (422 with every line), elevation SVG; customers and read-only tokens are refused."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.hardware.models import Server, ServerState
from tests.factories import UserFactory
from tests.hardware.factories import BMCFactory, NetworkInterfaceFactory, ServerFactory
from tests.hardware.test_onboarding import csv_text, line
from tests.hardware.test_onboarding import site as site  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def test_list_filters_and_detail(api):
    bmc = BMCFactory(password="never-shown", server__serial="API-1", server__state=ServerState.READY)
    NetworkInterfaceFactory(server=bmc.server, name="eth0", mac="0c:c4:7a:55:00:01")
    ServerFactory(serial="API-2", state=ServerState.MAINTENANCE)
    body = api.get("/api/hardware/servers", {"state": "ready"}).json()
    assert [x["serial"] for x in body["servers"]] == ["API-1"] and body["meta"]["total"] == 1
    assert [x["serial"] for x in api.get("/api/hardware/servers", {"mac": "0C-C4-7A-55-00-01"}).json()["servers"]] == ["API-1"]
    assert api.get("/api/hardware/servers", {"mac": "nope"}).status_code == 422
    detail = api.get(f"/api/hardware/servers/{bmc.server.pk}")
    assert detail.status_code == 200 and detail.json()["interfaces"][0]["mac"] == "0c:c4:7a:55:00:01"
    assert "never-shown" not in detail.content.decode() and detail.json()["bmc"]["protocol"] == "ipmi"


def test_transition_and_conflict(api):
    server = ServerFactory(state=ServerState.READY)
    ok = api.post(f"/api/hardware/servers/{server.pk}/transition", {"to": "maintenance", "reason": "fan noise"}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "maintenance" and ok.json()["state_reason"] == "fan noise"
    refused = api.post(f"/api/hardware/servers/{server.pk}/transition", {"to": "active"}, format="json")
    assert refused.status_code == 409 and "cannot go from 'maintenance' to 'active'" in refused.json()["errors"][0]


def test_commissioning_report_and_findings_conflict(api):
    server = ServerFactory(state=ServerState.COMMISSIONING, plan__ram_gb=64, plan__disks=[], plan__nic_count=0)
    report = {"cpu": {"model": server.plan.cpu_model, "count": server.plan.cpu_count}, "ram_gb": 16, "disks": [], "nics": []}
    body = api.post(f"/api/hardware/servers/{server.pk}/commissioning", report, format="json").json()
    assert body["state"] == "commissioning" and "RAM: 16 GB seen" in body["findings"][0]["message"]
    refused = api.post(f"/api/hardware/servers/{server.pk}/transition", {"to": "ready"}, format="json")
    assert refused.status_code == 409 and "open commissioning finding" in refused.json()["errors"][0]
    assert api.post(f"/api/hardware/servers/{server.pk}/commissioning", {"cpu": {}}, format="json").status_code == 422


def test_csv_import(api, site):  # noqa: F811
    bad = api.post("/api/hardware/import", {"csv": csv_text(line(1), line(2, plan="nope"))}, format="json")
    assert bad.status_code == 422 and bad.json()["lines"] == [{"line": 3, "column": "plan", "message": bad.json()["lines"][0]["message"]}]
    assert not Server.objects.exists()
    good = api.post("/api/hardware/import?dry_run=1", csv_text(line(1)), content_type="text/csv")
    assert good.status_code == 200 and good.json()["created"] == ["SRV0001"] and good.json()["dry_run"] and not Server.objects.exists()
    good = api.post("/api/hardware/import", csv_text(line(1)), content_type="text/csv")
    assert good.json()["created"] == ["SRV0001"] and Server.objects.count() == 1


def test_elevation_svg(api, site):  # noqa: F811
    answer = api.get(f"/api/hardware/racks/{site.pk}/elevation.svg")
    assert answer.status_code == 200 and answer["Content-Type"] == "image/svg+xml" and b"tx1-a01-sw1" in answer.content


def test_customers_and_read_only_tokens_are_refused(staff_user):
    server = ServerFactory()
    customer = APIClient()
    customer.force_authenticate(UserFactory())
    assert customer.get("/api/hardware/servers").status_code == 403
    _token, plaintext = accounts.api_token_create(user=staff_user, read_only=True)
    reader = APIClient()
    reader.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    assert reader.get("/api/hardware/servers").status_code == 200
    assert reader.post(f"/api/hardware/servers/{server.pk}/transition", {"to": "maintenance"}, format="json").status_code == 403
