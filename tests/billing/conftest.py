"""Billing fixtures: a metro with a plan, its price book, and devices driven through their real transitions at
chosen moments (time_machine moves the clock; the history is what transition() records)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
import time_machine

from apps.billing import services
from apps.billing.models import PriceKind
from apps.installs.models import Device, DeviceState
from project.states import transition
from tests.facilities.factories import FacilityFactory
from tests.hardware.factories import PlanFactory
from tests.installs.factories import DeviceFactory

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """'2026-11-10 10:00' → that moment in UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def move(device: Device, state: str, when: str) -> Device:
    with time_machine.travel(at(when), tick=False):
        return transition(device, state, reason="test")


def live(device: Device, start: str, end: str | None = None, *, deleted: str | None = None) -> Device:
    """queued → provisioning → active at `start`; → deprovisioning at `end` (→ deleted at `deleted`)."""
    move(device, DeviceState.PROVISIONING, start)
    move(device, DeviceState.ACTIVE, start)
    if end:
        move(device, DeviceState.DEPROVISIONING, end)
        move(device, DeviceState.DELETED, deleted or end)
    return device


@pytest.fixture
def site(db):
    facility = FacilityFactory()
    plan = PlanFactory()
    services.price_set(kind=PriceKind.DEVICE, plan=plan, amount=Decimal("1.00"), valid_from=at("2026-01-01 00:00"))
    services.price_set(kind=PriceKind.DEVICE, plan=plan, amount=Decimal("2.00"), valid_from=at("2026-11-10 12:00"))
    services.price_set(kind=PriceKind.PUBLIC_IPV4, amount=Decimal("0.005"), valid_from=at("2026-01-01 00:00"))
    services.price_set(kind=PriceKind.PUBLIC_IPV6, amount=Decimal("0"), valid_from=at("2026-01-01 00:00"))
    services.price_set(kind=PriceKind.PRIVATE_IPV4, amount=Decimal("0"), valid_from=at("2026-01-01 00:00"))
    return {"facility": facility, "metro": facility.metro, "plan": plan}


@pytest.fixture
def make_device(site) -> Callable[..., Device]:
    def make(**kwargs: object) -> Device:
        with time_machine.travel(at("2026-11-01 00:00"), tick=False):
            return DeviceFactory(**{"plan": site["plan"], "facility": site["facility"], "metro": site["metro"], **kwargs})
    return make
