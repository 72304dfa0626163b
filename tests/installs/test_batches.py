"""Batch orders: each device has its own outcome; a batch takes only what the pool can give (also against a
concurrent batch on PostgreSQL); listing, showing and deleting batches; another tenant's batch is 404."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.hardware.services import server_transition
from apps.installs.models import Batch, Device, DeviceState
from apps.installs.services.batches import BatchSpec, device_batch_create
from apps.installs.services.reservations import hardware_reservation_create
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import FacilityFactory, PlanFactory, ServerFactory
from tests.installs.factories import OperatingSystemFactory
from tests.installs.test_api import client_for


@pytest.fixture
def pool(db):
    facility, plan = FacilityFactory(), PlanFactory()
    os_ = OperatingSystemFactory(plans=[plan])
    project, other = ProjectFactory(), ProjectFactory()
    owner, mallory = UserFactory(), UserFactory()
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    accounts.membership_set(user=mallory, organization=other.organization, role=Role.OWNER)
    ready = [ServerFactory(facility=facility, plan=plan, serial=f"OK-{i:02d}") for i in range(15)]
    # Five more of the plan that nobody else may have: three in maintenance, two reserved for another project.
    for i in range(3):
        server_transition(server=ServerFactory(facility=facility, plan=plan, serial=f"MT-{i}"), to="maintenance", reason="test")
    for i in range(2):
        hardware_reservation_create(project=other, server=ServerFactory(facility=facility, plan=plan, serial=f"RS-{i}"),
                                    ends_at=timezone.now() + dt.timedelta(days=30))
    return {"facility": facility, "plan": plan, "os": os_, "project": project, "other": other, "owner": owner, "mallory": mallory,
            "ready": ready}


def body(p, **over):
    return {"batches": [{"hostname": "web-{{index}}", "quantity": 20, "plan": p["plan"].slug, "facility": p["facility"].code,
                         "operating_system": p["os"].slug, **over}]}


@pytest.mark.django_db
def test_a_batch_of_twenty_with_five_unavailable(pool) -> None:
    client = client_for(pool["owner"])
    answer = client.post(f"/metal/v1/projects/{pool['project'].pk}/devices/batch", body(pool), format="json")
    assert answer.status_code == 201, answer.content
    (batch,) = answer.json()["batches"]
    assert batch["quantity"] == 20 and batch["state"] == "partial" and len(batch["devices"]) == 15
    assert len(batch["error_messages"]) == 5
    assert batch["error_messages"][0] == (f"web-16: no {pool['plan'].slug} server is left in {pool['facility'].code} for this batch "
                                          "(15 available when it was ordered).")
    devices = Device.objects.filter(batch_id=batch["id"]).order_by("hostname")
    assert [d.hostname for d in devices] == [f"web-{i:02d}" for i in range(1, 16)] and all(d.state == DeviceState.QUEUED for d in devices)
    # The project's batches, one batch, and other tenants.
    listed = client.get(f"/metal/v1/projects/{pool['project'].pk}/batches").json()
    assert [b["id"] for b in listed["batches"]] == [batch["id"]]
    assert client.get(f"/metal/v1/batches/{batch['id']}").json()["devices"] == batch["devices"]
    mallory = client_for(pool["mallory"])
    assert mallory.get(f"/metal/v1/batches/{batch['id']}").status_code == 404
    assert mallory.delete(f"/metal/v1/batches/{batch['id']}").status_code == 404
    assert mallory.post(f"/metal/v1/projects/{pool['project'].pk}/devices/batch", body(pool), format="json").status_code == 404
    # Nothing left: a second batch is refused whole, with its reasons.
    second = client.post(f"/metal/v1/projects/{pool['project'].pk}/devices/batch", body(pool, quantity=2, hostname="db"), format="json")
    assert second.json()["batches"][0]["state"] == "failed" and second.json()["batches"][0]["error_messages"][0].startswith("db-01: no ")
    # Deleting the batch with its devices.
    gone = client.delete(f"/metal/v1/batches/{batch['id']}?remove_associated_instances=true")
    assert gone.status_code == 204 and not Batch.objects.filter(pk=batch["id"]).exists()
    assert set(Device.objects.filter(hostname__startswith="web-").values_list("state", flat=True)) == {DeviceState.DELETED}


@pytest.mark.django_db
def test_bad_batches_are_422_and_change_nothing(pool) -> None:
    client = client_for(pool["owner"])
    url = f"/metal/v1/projects/{pool['project'].pk}/devices/batch"
    for bad in (body(pool, plan="no.such.plan"), body(pool, quantity=0), body(pool, quantity=-3), body(pool, hostnames=["a", "b"]),
                {"batches": []}, body(pool, hostname="bad_name!{{index}}", quantity=1) | {"batches": "x"}):
        answer = client.post(url, bad, format="json")
        assert answer.status_code == 422, (bad, answer.content)
    assert not Device.objects.exists() and not Batch.objects.exists()
    # A hostname a device cannot have is refused for that device only.
    answer = client.post(url, body(pool, hostnames=["good-1", "bad_name!"], quantity=2), format="json").json()["batches"][0]
    assert answer["state"] == "partial" and len(answer["devices"]) == 1 and answer["error_messages"][0].startswith("bad_name!: ")


@pytest.mark.postgres
@pytest.mark.timeout(120)
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_batches_never_oversell(pool) -> None:
    results: list[Batch] = []
    spec = {"quantity": 10, "plan": pool["plan"], "operating_system": pool["os"], "facility": pool["facility"]}

    def order(name: str) -> None:
        try:
            results.extend(device_batch_create(project=pool["project"], specs=[BatchSpec(hostname=name, **spec)]))
        finally:
            connection.close()

    threads = [threading.Thread(target=order, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(b.devices.count() for b in results) == [5, 10]
    assert Device.objects.count() == 15  # (the workflow ran on, inline: tasks are synchronous in tests)
