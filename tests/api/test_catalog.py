"""The catalog (metros, facilities, plans) in Equinix Metal shapes, with bounded queries."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan
from project.public_ids import public_id

PlanModel = pytest.importorskip("equinix_metal").Plan


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
    metros = {m.code: m for m in Metro.objects.all()}
    assert [m["href"] for m in plan["available_in_metros"]] == [f"/metal/v1/locations/metros/{public_id('metro', metros[c].pk)}"
                                                                for c in ("da", "ny")]
    assert all(m["price"] == {"hour": 0.5} for m in plan["available_in_metros"])
    assert body["meta"]["total"] == 5
    # The strict generated models decode it, and every href resolves.
    for item in body["plans"]:
        assert PlanModel.from_dict(item).slug == item["slug"]
        assert client.get(item["href"]).json()["slug"] == item["slug"]


def test_facilities_and_metros(catalog, user):
    client = APIClient()
    client.force_authenticate(user)
    facilities = client.get("/metal/v1/facilities").json()["facilities"]
    assert [f["code"] for f in facilities] == ["da11", "ny5"]
    assert facilities[0]["metro"]["code"] == "da"
    assert [m["code"] for m in client.get("/metal/v1/locations/metros").json()["metros"]] == ["da", "ny"]
    for item in facilities + client.get("/metal/v1/locations/metros").json()["metros"]:
        assert client.get(item["href"]).json()["code"] == item["code"]


def test_plan_filters_and_case_insensitive_slugs(catalog, user):
    client = APIClient()
    client.force_authenticate(user)
    assert [p["slug"] for p in client.get("/metal/v1/plans?slug=C1.SMALL.X86").json()["plans"]] == ["c1.small.x86"]
    assert client.get("/metal/v1/plans?type=workload_optimized").json()["plans"] == []
    assert len(client.get("/metal/v1/plans?type=standard").json()["plans"]) == 5


def test_capacity_counts_the_ready_pool(catalog, user):
    from tests.hardware.factories import ServerFactory

    plan = Plan.objects.get(slug="c0.small.x86")
    ServerFactory(facility=catalog, plan=plan, state="ready")
    ServerFactory(facility=catalog, plan=plan, state="maintenance")
    client = APIClient()
    client.force_authenticate(user)
    facilities = client.get("/metal/v1/capacity").json()["capacity"]
    assert facilities["da11"]["c0.small.x86"] == {"level": "limited"}
    assert facilities["ny5"]["c0.small.x86"] == {"level": "unavailable"}
    metros = client.get("/metal/v1/capacity/metros").json()["capacity"]
    assert metros["da"]["c0.small.x86"] == {"level": "limited", "available_servers": 1}
    check = client.post("/metal/v1//capacity/metros", {"servers": [{"metro": "DA", "plan": "c0.small.x86", "quantity": "1"},
                                                                  {"metro": "da", "plan": "c0.small.x86", "quantity": 2}]},
                        format="json").json()["servers"]
    assert [c["available"] for c in check] == [True, False]
    check = client.post("/metal/v1/capacity", {"servers": [{"facility": "da11", "plan": "c0.small.x86", "quantity": 1}]},
                        format="json").json()["servers"]
    assert check[0]["available"] is True


def test_catalog_needs_authentication(catalog):
    assert APIClient().get("/metal/v1/plans").status_code in (401, 403)
