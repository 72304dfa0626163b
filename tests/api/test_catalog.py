"""The catalog (metros, facilities, plans) in Equinix Metal shapes, with bounded queries."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan


@pytest.fixture
def catalog(db):
    da = Metro.objects.create(code="da", name="Dallas", country="US")
    ny = Metro.objects.create(code="ny", name="New York", country="US")
    da11 = Facility.objects.create(code="da11", metro=da, name="Dallas 11")
    ny5 = Facility.objects.create(code="ny5", metro=ny, name="New York 5")
    for i in range(5):
        plan = Plan.objects.create(slug=f"c{i}.small.x86", name=f"C{i}", cpu_model="AMD EPYC 7402P", cpu_count=1, cpu_cores=24,
                                   ram_gb=64, disks=[{"count": 2, "size_gb": 480, "type": "ssd"}], price_hourly=Decimal("0.5"))
        plan.facilities.set([da11, ny5])
    return da11


def test_plans_in_metal_shape_without_n_plus_one(catalog, user):
    client = APIClient()
    client.force_authenticate(user)
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/metal/v1/plans").json()
    assert len(queries) <= 6, [q["sql"] for q in queries.captured_queries]
    plan = body["plans"][0]
    assert plan["slug"] == "c0.small.x86"
    assert plan["specs"]["memory"] == {"total": "64GB"}
    assert plan["specs"]["drives"] == [{"count": 2, "size": "480GB", "type": "ssd"}]
    assert plan["pricing"] == {"hour": 0.5}
    assert plan["available_in_metros"] == ["da", "ny"]
    assert body["meta"]["total"] == 5


def test_facilities_and_metros(catalog, user):
    client = APIClient()
    client.force_authenticate(user)
    facilities = client.get("/metal/v1/facilities").json()["facilities"]
    assert [f["code"] for f in facilities] == ["da11", "ny5"]
    assert facilities[0]["metro"]["code"] == "da"
    assert [m["code"] for m in client.get("/metal/v1/locations/metros").json()["metros"]] == ["da", "ny"]


def test_catalog_needs_authentication(catalog):
    assert APIClient().get("/metal/v1/plans").status_code in (401, 403)
