"""The device and install state machines and the constraints behind them."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from apps.installs.models import Device, DeviceState, Install, InstallState
from project.states import IllegalTransition, transition
from tests.hardware.factories import FacilityFactory, ServerFactory
from tests.installs.factories import DeviceFactory, InstallFactory

pytestmark = pytest.mark.django_db


def test_every_device_state_is_in_the_table_and_deleted_is_final() -> None:
    assert set(Device.TRANSITIONS) == set(DeviceState.values)
    assert Device.TRANSITIONS[DeviceState.DELETED] == frozenset()
    for targets in Device.TRANSITIONS.values():
        assert targets <= set(DeviceState.values)


def test_a_device_moves_only_along_the_table() -> None:
    device = DeviceFactory(facility=FacilityFactory(), state=DeviceState.QUEUED)
    with pytest.raises(IllegalTransition) as exc:
        transition(device, DeviceState.ACTIVE, reason="skipping provisioning")
    assert "may go to" in str(exc.value)
    transition(device, DeviceState.PROVISIONING, reason="picked")
    transition(device, DeviceState.ACTIVE, reason="phoned home")
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE and device.state_changed_at is not None


def test_a_device_needs_a_facility_or_a_metro() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory(facility=None, metro=None)


def test_one_live_device_per_server() -> None:
    server = ServerFactory()
    DeviceFactory(facility=server.facility, server=server, state=DeviceState.ACTIVE)
    DeviceFactory(facility=server.facility, server=server, state=DeviceState.DELETED)  # history is fine
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory(facility=server.facility, server=server, state=DeviceState.PROVISIONING)


def test_one_open_install_per_server() -> None:
    server = ServerFactory()
    InstallFactory(server=server, state=InstallState.RUNNING)
    InstallFactory(server=server, state=InstallState.FAILED)
    with pytest.raises(IntegrityError), transaction.atomic():
        InstallFactory(server=server, state=InstallState.QUEUED)


def test_each_install_has_its_own_secret() -> None:
    a, b = InstallFactory(), InstallFactory()
    assert len(a.secret) >= 30 and a.secret != b.secret
    assert Install.objects.get(pk=a.pk).secret == a.secret
