"""Findings 4 and 5 of the security review, replayed: a customer released its device's platform-managed /31 (the
switch kept routing it to that port while the next tenant was given it), and an assignment with another tenant's
`device_id` plus a `device_label` skipped the ownership check. Both must now fail with nothing changed."""
from __future__ import annotations

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs.models import DeviceState
from apps.ipam import services as ipam
from apps.ipam.models import Assignment
from project.public_ids import public_id
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures
from tests.installs.factories import DeviceFactory
from tests.installs.test_api import client_for
from tests.security.dbstate import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants(rack):  # noqa: F811
    a, b = ProjectFactory(name="a-prod"), ProjectFactory(name="b-prod")
    alice, carol = UserFactory(username="alice"), UserFactory(username="carol")
    accounts.membership_set(user=alice, organization=a.organization, role=Role.OWNER)
    accounts.membership_set(user=carol, organization=b.organization, role=Role.ADMIN)
    server = rack["servers"][0]
    device = DeviceFactory(project=b, facility=rack["facility"], plan=rack["plan"], server=server, state=DeviceState.ACTIVE,
                           hostname="b-vault")
    managed = ipam.server_addresses_assign(server=server, project=b, device_id=device.pk, device_label=device.hostname)
    return {"a": a, "b": b, "alice": alice, "carol": carol, "b_device": device, "managed": managed, "rack": rack}


def test_a_customer_cannot_release_its_devices_platform_managed_addresses(tenants) -> None:
    carol, alice = client_for(tenants["carol"]), client_for(tenants["alice"])
    before = db_fingerprint()
    for block in tenants["managed"]:  # the public /31, the private /31, the public IPv6 /127
        answer = carol.delete(f"/metal/v1/ips/{public_id('ip', block.pk)}")
        assert answer.status_code == 409, answer.content
        assert answer.json()["errors"] == [
            f"{block.network} is the platform-managed address of device b-vault, routed to its switch port; it is released when "
            "the device is deleted, not through the API."]
    assert changed_tables(before, db_fingerprint()) == []
    assert Assignment.objects.active().filter(server=tenants["rack"]["servers"][0]).count() == 3
    # Another tenant does not even see them.
    assert all(alice.delete(f"/metal/v1/ips/{public_id('ip', b.pk)}").status_code == 404 for b in tenants["managed"])
    assert changed_tables(before, db_fingerprint()) == []


def test_an_address_the_customer_assigned_itself_is_still_released(tenants) -> None:
    carol = client_for(tenants["carol"])
    reservation = ipam.reservation_create(project=tenants["b"], facility=tenants["rack"]["facility"], quantity=4)
    assigned = carol.post(f"/metal/v1/ips/{public_id('ip', reservation.pk)}/assignments",
                          {"address": reservation.network.split("/")[0] + "/32", "device_id": str(tenants["b_device"].pk)}, format="json")
    assert assigned.status_code == 201, assigned.content
    assert carol.delete(f"/metal/v1/ips/{assigned.json()['id']}").status_code == 204


@pytest.mark.parametrize("label", ["", "innocent-label"])
def test_assigning_to_another_tenants_device_is_refused_even_with_a_label(tenants, label) -> None:
    alice = client_for(tenants["alice"])
    reservation = ipam.reservation_create(project=tenants["a"], facility=tenants["rack"]["facility"], quantity=4)
    before = db_fingerprint()
    for body in ({"cidr": 32}, {"address": reservation.network.split("/")[0] + "/32"}):
        answer = alice.post(f"/metal/v1/ips/{public_id('ip', reservation.pk)}/assignments",
                            {**body, "device_id": str(tenants["b_device"].pk), "device_label": label}, format="json")
        assert answer.status_code == 422, answer.content
        assert answer.json()["errors"] == [f"device_id: There is no device {tenants['b_device'].pk} in project a-prod."]
    assert changed_tables(before, db_fingerprint()) == []
    assert not Assignment.objects.filter(device_id=tenants["b_device"].pk, project=tenants["a"]).exists()
