"""The real clients on the renting operations they have, against a live Metalyard: packet-python 1.44.3
(hardware reservations, spot prices, batches) and equinix-metal 0.11.0 (usages, invoices, hardware
reservations and their move, spot prices, history and requests, batches); every object decodes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.accounts.models import Organization
from apps.billing.models import PriceKind
from apps.billing.services import invoice_issue, price_set
from apps.hardware.services import server_transition
from apps.installs.models import Device
from apps.installs.services.reservations import hardware_reservation_create
from project.states import transition
from tests.api.clients import customer, metal_client, packet_manager
from tests.facilities.factories import FacilityFactory, MetroFactory
from tests.factories import ProjectFactory
from tests.hardware.factories import PlanFactory, ServerFactory
from tests.installs.factories import DeviceFactory, OperatingSystemFactory

packet = pytest.importorskip("packet")
equinix_metal = pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]

UTC = dt.UTC


@pytest.fixture
def rented():
    """An organization with a project, a device billed in November, an issued invoice, a reservation, idle
    servers for the market and for batches. Names the specification's reports know (metro da, facility ewr1,
    plan c2.medium.x86), since the generated client keeps only those keys of a price report."""
    user, token = customer()
    org = Organization.objects.get(memberships__user=user)
    project = ProjectFactory(organization=org, name="renting")
    sibling = ProjectFactory(organization=org, name="renting-2")
    metro = MetroFactory(code="da")
    facility = FacilityFactory(code="ewr1", metro=metro)
    plan = PlanFactory(slug="c2.medium.x86", price_hourly=Decimal("1.0000"))
    os_ = OperatingSystemFactory(plans=[plan])
    price_set(kind=PriceKind.DEVICE, plan=plan, amount=Decimal("1.50"), valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
    device = DeviceFactory(project=project, plan=plan, facility=facility, metro=metro, operating_system=os_)
    for moment, state in (("2026-11-10 10:00", "provisioning"), ("2026-11-10 10:05", "active"), ("2026-11-10 13:10", "deprovisioning"),
                          ("2026-11-10 13:20", "deleted")):
        with time_machine.travel(dt.datetime.fromisoformat(moment).replace(tzinfo=UTC), tick=False):
            transition(device, state, reason="test")
    with time_machine.travel(dt.datetime(2026, 12, 1, 6, tzinfo=UTC), tick=False):
        invoice = invoice_issue(organization=org, month="2026-11")
    servers = [ServerFactory(facility=facility, plan=plan, serial=f"C-{i}") for i in range(6)]
    reservation = hardware_reservation_create(project=project, server=servers[0], ends_at=timezone.now() + dt.timedelta(days=30))
    server_transition(server=servers[1], to="allocated", reason="another customer's")  # 4 of the 5 in the market idle
    return {"user": user, "token": token, "org": org, "project": project, "sibling": sibling, "metro": metro, "facility": facility,
            "plan": plan, "os": os_, "device": device, "invoice": invoice, "reservation": reservation}


def test_equinix_metal_renting_operations(rented, live_server) -> None:
    client = metal_client(live_server.url, rented["token"])
    project_id, device_id = str(rented["project"].pk), str(rented["device"].pk)

    usages = equinix_metal.UsagesApi(client).find_project_usage(project_id, created_after="2026-11-01T00:00:00Z",
                                                                created_before="2026-12-01T00:00:00Z")
    assert [(u.type, u.quantity, u.price, u.total) for u in usages.usages] == [("device", "4.0000", "1.5000", "6.00")]
    device_usages = equinix_metal.UsagesApi(client).find_device_usages(device_id, created_after="2026-11-01T00:00:00Z",
                                                                       created_before="2026-12-01T00:00:00Z")
    assert [(u.quantity, u.total, u.unit) for u in device_usages.usages] == [("4.0000", "6.00", "hour")]

    invoices = equinix_metal.InvoicesApi(client).find_organization_invoices(str(rented["org"].pk))
    assert [i.id for i in invoices.invoices] == [str(rented["invoice"].pk)]
    invoice = equinix_metal.InvoicesApi(client).get_invoice_by_id(str(rented["invoice"].pk))
    assert invoice.amount == 6.0 and invoice.currency == "USD" and [i.amount for i in invoice.items] == [6.0]

    reservations = equinix_metal.HardwareReservationsApi(client)
    listed = reservations.find_project_hardware_reservations(project_id)
    assert [r.id for r in listed.hardware_reservations] == [str(rented["reservation"].pk)] and listed.meta.total == 1
    one = reservations.find_hardware_reservation_by_id(str(rented["reservation"].pk))
    assert one.provisionable is True and one.plan.slug == "c2.medium.x86" and one.facility.code == "ewr1"
    moved = reservations.move_hardware_reservation(str(rented["reservation"].pk),
                                                   equinix_metal.MoveHardwareReservationRequest(project_id=str(rented["sibling"].pk)))
    assert moved.project.id == str(rented["sibling"].pk)

    market = equinix_metal.SpotMarketApi(client)
    assert market.find_spot_market_prices().spot_market_prices.ewr1.c2_medium_x86.price == 0.36  # 4 of 5 idle: 0.2 + 0.8 × 1/5
    assert market.find_metro_spot_market_prices().spot_market_prices.da.c2_medium_x86.price == 0.36
    history = market.find_spot_market_prices_history("ewr1", "c2.medium.x86", "0", str(int(timezone.now().timestamp()) + 60), metro="da")
    assert history.prices_history.datapoints is not None
    batches = equinix_metal.BatchesApi(client)
    made = batches.create_device_batch(project_id, equinix_metal.InstancesBatchCreateInput(batches=[
        equinix_metal.InstancesBatchCreateInputBatchesInner(metro="da", facility=equinix_metal.FacilityInputFacility(["ewr1"]),
                                                            plan="c2.medium.x86", operating_system=rented["os"].slug,
                                                            hostname="b-{{index}}", quantity=5)]))
    (batch,) = made.batches
    # Four servers are free: four made, one refused with its reason.
    assert (batch.quantity, len(batch.devices), batch.state, len(batch.error_messages)) == (5, 4, "partial", 1)
    assert [b.id for b in batches.find_batches_by_project(project_id).batches] == [batch.id]
    assert batches.find_batch_by_id(batch.id).id == batch.id
    batches.delete_batch(batch.id, remove_associated_instances=True)

    request = market.create_spot_market_request(project_id, equinix_metal.SpotMarketRequestCreateInput(
        devices_min=0, devices_max=2, max_bid_price=1.0, metro="da",  # the pool is full now: the ceiling
        instance_parameters=equinix_metal.SpotMarketRequestCreateInputInstanceParameters(
            plan="c2.medium.x86", operating_system=rented["os"].slug, hostname="spot-{{index}}")))
    assert (request.devices_min, request.devices_max, request.metro.code) == (0, 2, "da")
    made = Device.objects.filter(spot_market_request_id=request.id)
    assert all(d.spot_instance and d.spot_price_max == Decimal("1.0") for d in made)
    assert [r.id for r in market.list_spot_market_requests(project_id).spot_market_requests] == [request.id]
    market.delete_spot_market_request(request.id)


def test_packet_python_renting_operations(rented, live_server, monkeypatch) -> None:
    manager = packet_manager(live_server.url, rented["token"], monkeypatch)
    project_id = str(rented["project"].pk)
    (reservation,) = manager.list_hardware_reservations(project_id)
    assert reservation.id == str(rented["reservation"].pk) and reservation.provisionable is True
    assert reservation.plan.slug == "c2.medium.x86" and reservation.project.id == project_id
    assert manager.get_hardware_reservation(reservation.id).id == reservation.id
    assert manager.get_spot_market_prices()["ewr1"]["c2.medium.x86"]["price"] == 0.36
    (batch,) = manager.create_batch(project_id, [{"hostname": "p-{{index}}", "quantity": 3, "plan": "c2.medium.x86", "metro": "da",
                                                 "operating_system": rented["os"].slug}])
    assert batch.quantity == 3 and len(batch.devices) == 3 and batch.error_messages == []
    assert [b.id for b in manager.list_batches(project_id)] == [batch.id]
    manager.delete_batch(batch.id)
