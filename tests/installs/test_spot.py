"""The spot market: the price follows the idle pool between a floor and a ceiling; bids are checked; a spot device
whose bid falls below the price gets its termination_time, then is deprovisioned like any delete (on lab
hardware: wiped, port isolated, addresses released); on-demand orders reclaim capacity; spot market requests."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.hardware.services import server_transition
from apps.installs.models import Device, DeviceState, SpotMarketRequest, SpotPrice
from apps.installs.services import orders, spot
from apps.installs.services.reservations import hardware_reservation_create
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import FacilityFactory, PlanFactory, ServerFactory
from tests.installs.factories import OperatingSystemFactory
from tests.installs.test_api import client_for


@pytest.fixture
def market(db):
    facility = FacilityFactory()
    plan = PlanFactory(price_hourly=Decimal("1.0000"))
    os_ = OperatingSystemFactory(plans=[plan])
    servers = [ServerFactory(facility=facility, plan=plan, serial=f"S-{i}") for i in range(4)]
    project, owner = ProjectFactory(), UserFactory()
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    return {"facility": facility, "metro": facility.metro, "plan": plan, "os": os_, "servers": servers, "project": project, "owner": owner}


def price(m) -> Decimal:
    return spot.spot_price(plan=m["plan"], metro_id=m["metro"].pk)


@pytest.mark.django_db
def test_the_price_follows_the_idle_pool_between_floor_and_ceiling(market, settings) -> None:
    assert price(market) == Decimal("0.2000")  # all idle: the floor (0.2 × 1.00)
    server_transition(server=market["servers"][0], to="allocated", reason="test")
    assert price(market) == Decimal("0.4000")  # 3 of 4 idle: 0.2 + 0.8 × 1/4
    # A reserved server is not in the market at all; a server in maintenance neither.
    hardware_reservation_create(project=market["project"], server=market["servers"][1], ends_at=timezone.now() + dt.timedelta(days=9))
    server_transition(server=market["servers"][2], to="maintenance", reason="test")
    assert price(market) == Decimal("0.6000")  # 1 of 2 idle
    server_transition(server=market["servers"][3], to="allocated", reason="test")
    assert price(market) == Decimal("1.0000")  # none idle: the ceiling
    settings.SPOT_CEILING_RATIO = 0.9
    assert price(market) == Decimal("0.9000")


@pytest.mark.django_db
def test_prices_history_and_bids_through_the_api(market) -> None:
    client = client_for(market["owner"])
    with time_machine.travel(timezone.now() - dt.timedelta(hours=2), tick=False):
        spot.spot_prices_record()
    server_transition(server=market["servers"][0], to="allocated", reason="test")
    spot.spot_prices_record()
    spot.spot_prices_record()  # unchanged: no new row
    assert list(SpotPrice.objects.order_by("at").values_list("price", flat=True)) == [Decimal("0.2000"), Decimal("0.4000")]
    metros = client.get("/metal/v1/market/spot/prices/metros").json()["spot_market_prices"]
    assert metros == {market["metro"].code: {market["plan"].slug: {"price": 0.4}}}
    facilities = client.get(f"/metal/v1/market/spot/prices?facility={market['facility'].code}").json()["spot_market_prices"]
    assert facilities == {market["facility"].code: {market["plan"].slug: {"price": 0.4}}}
    history = client.get(f"/metal/v1/market/spot/prices/history?plan={market['plan'].slug}&metro={market['metro'].code}").json()
    assert [p for _, p in history["prices_history"]["datapoints"]] == [0.2, 0.4]
    assert client.get("/metal/v1/market/spot/prices/history?plan=nope&metro=x").status_code == 422
    url = f"/metal/v1/projects/{market['project'].pk}/devices"
    body = {"hostname": "s1", "plan": market["plan"].slug, "facility": market["facility"].code, "operating_system": market["os"].slug,
            "spot_instance": True}
    for bid, message in ((None, "needs a bid"), (0, "more than zero"), (-1, "more than zero"), ("0.3", "above the bid 0.3")):
        answer = client.post(url, {**body, "spot_price_max": bid}, format="json")
        assert answer.status_code == 422 and message in " ".join(answer.json()["errors"]), answer.content
    assert not Device.objects.exists()
    made = client.post(url, {**body, "spot_price_max": "0.75"}, format="json")
    assert made.status_code == 201 and made.json()["spot_instance"] is True and made.json()["spot_price_max"] == 0.75
    assert made.json()["termination_time"] is None


@pytest.mark.django_db
def test_on_demand_orders_reclaim_spot_capacity(market) -> None:
    spot_device = spot.spot_device_create(bid="5", plan=market["plan"], facility=market["facility"], project=market["project"],
                                          hostname="spot1", operating_system=market["os"])
    Device.objects.filter(pk=spot_device.pk).update(server=market["servers"][0], state=DeviceState.ACTIVE)
    for server in market["servers"]:
        server_transition(server=server, to="allocated", reason="test")
    with pytest.raises(ValidationError, match="being reclaimed"):
        orders.device_create(project=ProjectFactory(), hostname="od1", plan=market["plan"], facility=market["facility"],
                             operating_system=market["os"])
    spot_device.refresh_from_db()
    assert spot_device.termination_time is not None
    assert AuditEvent.objects.filter(action="installs.device.spot_termination", target_id=str(spot_device.pk)).exists()


@pytest.mark.django_db
def test_spot_market_requests(market) -> None:
    client = client_for(market["owner"])
    url = f"/metal/v1/projects/{market['project'].pk}/spot-market-requests"
    body = {"devices_min": 2, "devices_max": 3, "max_bid_price": 0.9, "metro": market["metro"].code,
            "instance_parameters": {"plan": market["plan"].slug, "operating_system": market["os"].slug, "hostname": "sp-{{index}}"}}
    assert client.post(url, {**body, "max_bid_price": 0}, format="json").status_code == 422
    assert client.post(url, {**body, "devices_min": 5, "devices_max": 6}, format="json").status_code == 422
    assert not SpotMarketRequest.objects.exists() and not Device.objects.exists()
    made = client.post(url, body, format="json")
    assert made.status_code == 201, made.content
    assert len(made.json()["devices"]) == 3
    assert sorted(Device.objects.values_list("hostname", flat=True)) == ["sp-01", "sp-02", "sp-03"]
    assert all(d.spot_instance and d.spot_price_max == Decimal("0.9") for d in Device.objects.all())
    listed = client.get(url).json()["spot_market_requests"]
    assert [r["id"] for r in listed] == [made.json()["id"]]
    mallory = UserFactory()
    assert client_for(mallory).get(f"/metal/v1/spot-market-requests/{made.json()['id']}").status_code == 404
    assert client.delete(f"/metal/v1/spot-market-requests/{made.json()['id']}").status_code == 204
    assert not Device.objects.exclude(state__in=[DeviceState.DEPROVISIONING, DeviceState.DELETED]).exists()
    assert SpotMarketRequest.objects.get().closed_at is not None


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_a_spot_device_outbid_gets_its_notice_then_is_deprovisioned_clean(lab_site) -> None:
    from tests.installs.test_workflow import assert_clean, settled

    type(lab_site.plan).objects.filter(pk=lab_site.plan.pk).update(price_hourly=Decimal("1.0000"))
    lab_site.plan.refresh_from_db()
    # Both lab servers idle: the floor, 0.20. Bid 0.70: fine while one of the two is idle (0.60).
    device = spot.spot_device_create(bid="0.70", plan=lab_site.plan, facility=lab_site.facility, project=ProjectFactory(),
                                     hostname="spot1", operating_system=lab_site.os, ssh_keys=["ssh-ed25519 AAAA test"])
    device = settled(device, DeviceState.ACTIVE, DeviceState.FAILED)
    assert device.state == DeviceState.ACTIVE, device.failure_reason
    server = device.server
    assert spot.spot_market_check()["noticed"] == 0
    # An on-demand customer takes the other server: none idle, the price is the ceiling (1.00), above the bid.
    other = settled(orders.device_create(project=ProjectFactory(), hostname="od1", plan=lab_site.plan, facility=lab_site.facility,
                                         operating_system=lab_site.os, ssh_keys=["ssh-ed25519 AAAA test"]), DeviceState.ACTIVE, DeviceState.FAILED)
    assert other.state == DeviceState.ACTIVE
    now = timezone.now()
    assert spot.spot_market_check(now=now)["noticed"] == 1
    device.refresh_from_db()
    assert device.termination_time == now + dt.timedelta(seconds=120) and device.state == DeviceState.ACTIVE
    event = AuditEvent.objects.get(action="installs.device.spot_termination", target_id=str(device.pk))
    assert "rose above the bid 0.7000" in event.reason
    # Before its time nothing happens; at its time it is deprovisioned like any delete.
    assert spot.spot_market_check(now=now + dt.timedelta(seconds=60))["deprovisioned"] == 0
    assert spot.spot_market_check(now=now + dt.timedelta(seconds=121))["deprovisioned"] == 1
    device = settled(device, DeviceState.DELETED, DeviceState.FAILED)
    assert device.state == DeviceState.DELETED
    assert_clean(server, state="ready")
