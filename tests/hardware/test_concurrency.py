"""Two staff members mounting a server in the same free U at the same moment: exactly one wins (PostgreSQL)."""
from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.hardware import services
from apps.hardware.models import RackUnit, Server
from tests.facilities.factories import RackFactory
from tests.hardware.factories import PlanFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_mounts_in_one_unit_only_one_wins():
    rack = RackFactory()
    plan = PlanFactory()
    barrier = threading.Barrier(4, timeout=10)
    outcomes: list[str] = []

    def mount(n: int) -> None:
        try:
            barrier.wait()
            services.server_create(serial=f"RACE{n}", plan=plan, facility=rack.facility, rack=rack, position_u=7)
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=mount, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes.count("ok") == 1, outcomes
    assert all("U7" in o or "already occupies" in o for o in outcomes if o != "ok"), outcomes
    assert Server.objects.filter(rack=rack).count() == 1
    assert list(RackUnit.objects.filter(rack=rack).values_list("u", flat=True)) == [7]
