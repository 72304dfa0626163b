"""Hardware reservations: the customer API, deploying on one (by id or next-available), moving one within the
organization, and the rule that a reserved server is never picked for anyone else, even by 40 simultaneous
orders on PostgreSQL; a deleted device's server goes back to its reservation."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.hardware.models import Server
from apps.hardware.services import server_transition
from apps.installs.models import Device, DeviceState, Install, InstallKind, InstallState
from apps.installs.services import orders, workflow
from apps.installs.services.reservations import hardware_reservation_create, hardware_reservation_move
from project.states import transition
from project.timestamps import metal_time
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import FacilityFactory, PlanFactory, ServerFactory
from tests.installs.factories import DeviceFactory, OperatingSystemFactory
from tests.installs.test_api import client_for


def reserve(project, server, days: int = 30, **kwargs):
    return hardware_reservation_create(project=project, server=server, ends_at=timezone.now() + dt.timedelta(days=days), **kwargs)


@pytest.fixture
def reserved(db):
    facility, plan = FacilityFactory(), PlanFactory()
    os_ = OperatingSystemFactory(plans=[plan])
    project = ProjectFactory()
    sibling = ProjectFactory(organization=project.organization)
    stranger = ProjectFactory()
    owner, mallory = UserFactory(), UserFactory()
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    accounts.membership_set(user=mallory, organization=stranger.organization, role=Role.OWNER)
    servers = [ServerFactory(facility=facility, plan=plan, serial=f"R-{i}") for i in range(2)]
    free = ServerFactory(facility=facility, plan=plan, serial="F-0")
    reservations = [reserve(project, server) for server in servers]
    return {"facility": facility, "plan": plan, "os": os_, "project": project, "sibling": sibling, "stranger": stranger,
            "owner": owner, "mallory": mallory, "servers": servers, "free": free, "reservations": reservations}


def order(t, **kwargs) -> Device:
    kwargs.setdefault("facility", t["facility"])
    return orders.device_create(project=kwargs.pop("project", t["project"]), hostname="r1", plan=kwargs.pop("plan", t["plan"]),
                                operating_system=t["os"], **kwargs)


def pick(device: Device) -> Install:
    install = device.installs.get(kind=InstallKind.PROVISION)
    try:
        workflow.install_advance(install_id=install.pk, max_steps=1)  # start + pick_server only
    finally:
        install.refresh_from_db()
    return install


@pytest.mark.django_db
def test_the_api_lists_shows_and_moves_reservations(reserved) -> None:
    client = client_for(reserved["owner"])
    project, first = reserved["project"], reserved["reservations"][0]
    listed = client.get(f"/metal/v1/projects/{project.pk}/hardware-reservations").json()
    assert {r["id"] for r in listed["hardware_reservations"]} == {str(r.pk) for r in reserved["reservations"]}
    assert listed["meta"]["total"] == 2
    shown = client.get(f"/metal/v1/hardware-reservations/{first.pk}").json()
    assert shown["provisionable"] is True and shown["plan"]["slug"] == reserved["plan"].slug and shown["device"] is None
    assert shown["facility"]["code"] == reserved["facility"].code and shown["termination_time"] == metal_time(first.ends_at)
    moved = client.post(f"/metal/v1/hardware-reservations/{first.pk}/move", {"project_id": str(reserved["sibling"].pk)}, format="json")
    assert moved.status_code == 201 and moved.json()["project"]["id"] == str(reserved["sibling"].pk)
    # Another organization's project: refused, nothing changes (also for a user who belongs to both).
    accounts.membership_set(user=reserved["owner"], organization=reserved["stranger"].organization, role=Role.OWNER)
    away = client.post(f"/metal/v1/hardware-reservations/{first.pk}/move", {"project_id": str(reserved["stranger"].pk)}, format="json")
    assert away.status_code == 422 and "same organization" in away.json()["errors"][0]
    first.refresh_from_db()
    assert first.project_id == reserved["sibling"].pk
    # Another tenant sees none of it.
    mallory = client_for(reserved["mallory"])
    assert mallory.get(f"/metal/v1/hardware-reservations/{first.pk}").status_code == 404
    assert mallory.get(f"/metal/v1/projects/{project.pk}/hardware-reservations").status_code == 404
    assert mallory.post(f"/metal/v1/hardware-reservations/{first.pk}/move", {"project_id": str(reserved["stranger"].pk)},
                        format="json").status_code == 404


@pytest.mark.django_db
def test_deploy_on_a_reservation_by_id_and_next_available(reserved) -> None:
    first, second = reserved["reservations"]
    client = client_for(reserved["owner"])
    answer = client.post(f"/metal/v1/projects/{reserved['project'].pk}/devices",
                         {"hostname": "r1", "operating_system": reserved["os"].slug, "hardware_reservation_id": str(first.pk)}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["hardware_reservation"]["href"].endswith(str(first.pk))
    device = Device.objects.get(pk=answer.json()["id"])
    assert pick(device).server_id == first.server_id
    # The same reservation again: refused, it is in use.
    again = client.post(f"/metal/v1/projects/{reserved['project'].pk}/devices",
                        {"hostname": "r2", "operating_system": reserved["os"].slug, "hardware_reservation_id": str(first.pk)}, format="json")
    assert again.status_code == 422 and "already runs" in again.json()["errors"][0]
    # next-available takes the other one; then there is none left.
    nxt = order(reserved, hardware_reservation="next-available")
    assert nxt.hardware_reservation_id == second.pk and pick(nxt).server_id == second.server_id
    with pytest.raises(ValidationError, match="No free hardware reservation"):
        order(reserved, hardware_reservation="next-available")
    # Another project's reservation id is not there for this one.
    with pytest.raises(ValidationError, match="No hardware reservation"):
        order(reserved, project=reserved["sibling"], hardware_reservation=str(first.pk))


@pytest.mark.django_db
def test_a_deleted_devices_server_goes_back_to_its_reservation(reserved) -> None:
    first = reserved["reservations"][0]
    device = order(reserved, hardware_reservation=str(first.pk))
    server = Server.objects.get(pk=pick(device).server_id)
    assert server.pk == first.server_id
    # Deprovisioned: the device is deleted and its wiped server is ready again.
    transition(device, DeviceState.DEPROVISIONING, reason="test")
    transition(device, DeviceState.DELETED, reason="test")
    Install.objects.filter(device=device).update(state=InstallState.SUCCEEDED)
    server_transition(server=server, to="ready", reason="wiped")
    # On-demand orders get the one unreserved server, and then nothing, though two servers are ready.
    on_demand = order(reserved)
    assert pick(on_demand).server_id == reserved["free"].pk
    with pytest.raises(ValidationError, match=r"No .* server is available"):
        order(reserved)
    # The project's next order on its reservation gets that server back.
    again = order(reserved, hardware_reservation="next-available")
    assert again.hardware_reservation.server_id in {r.server_id for r in reserved["reservations"]}
    assert pick(again).server_id == again.hardware_reservation.server_id


@pytest.mark.django_db
def test_reservation_rules(reserved) -> None:
    with pytest.raises(ValidationError, match="already reserved"):
        reserve(reserved["sibling"], reserved["servers"][0])
    with pytest.raises(ValidationError, match="end after"):
        hardware_reservation_create(project=reserved["project"], server=reserved["free"], ends_at=timezone.now() - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="same organization"):
        hardware_reservation_move(reservation=reserved["reservations"][0], project=reserved["stranger"])


def _pick_in_thread(install_id) -> None:
    try:
        workflow.install_advance(install_id=install_id, max_steps=1)
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_forty_simultaneous_on_demand_orders_never_take_a_reserved_server() -> None:
    facility, plan = FacilityFactory(), PlanFactory()
    os_ = OperatingSystemFactory(plans=[plan])
    holder, customer = ProjectFactory(), ProjectFactory()
    reserved_servers = [ServerFactory(facility=facility, plan=plan, serial=f"A-{i}") for i in range(10)]  # first in pick order
    free = [ServerFactory(facility=facility, plan=plan, serial=f"B-{i}") for i in range(20)]
    for server in reserved_servers:
        reserve(holder, server)
    runs = [Install.objects.create(kind=InstallKind.PROVISION, operating_system=os_,
                                   device=DeviceFactory(project=customer, plan=plan, facility=facility, operating_system=os_))
            for _ in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_pick_in_thread, [r.pk for r in runs]))
    picked = list(Install.objects.filter(server__isnull=False).values_list("server_id", flat=True))
    assert sorted(picked) == sorted(s.pk for s in free)
    assert set(Server.objects.filter(state="ready").values_list("pk", flat=True)) == {s.pk for s in reserved_servers}
    assert Install.objects.filter(state=InstallState.FAILED).count() == 20
