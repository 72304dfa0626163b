"""The demo IP space: pools for the facilities that exist, nothing without facilities, idempotent."""
from __future__ import annotations

import io

from apps.facilities.models import Facility
from apps.ipam import demo
from apps.ipam.models import Block, Kind


def test_demo_builds_pools_for_existing_facilities_and_is_idempotent(facility, other_facility):
    demo.seed(out=io.StringIO(), context={})
    demo.seed(out=io.StringIO(), context={})
    assert sorted(Block.objects.filter(kind=Kind.SUPERNET).values_list("network", flat=True)) == [
        "10.0.0.0/8", "147.75.0.0/16", "2604:1380::/32"]
    pools = {(b.facility.code, b.network) for b in Block.objects.filter(kind=Kind.POOL).select_related("facility")}
    assert pools == {("da11", "147.75.0.0/21"), ("da11", "10.1.0.0/16"), ("da11", "2604:1380:4000::/40"),
                     ("da12", "147.75.8.0/21"), ("da12", "10.2.0.0/16"), ("da12", "2604:1380:4100::/40")}


def test_demo_without_facilities_creates_nothing(db):
    assert not Facility.objects.exists()
    demo.seed(out=io.StringIO(), context={})
    assert not Block.objects.exists()
