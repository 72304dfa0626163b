"""A machine is recognised by where it is: the address the platform's DHCP reserved for its NIC. A
known MAC or even the install's secret from another address gets 403 and changes nothing."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from apps.installs.models import DeviceState, DiscoveredMachine, InstallState, ProvisioningReservation
from apps.installs.provisioning import client_address, provisioning_network_set, provisioning_reserve
from tests.conftest import provisioning_client
from tests.hardware.factories import NetworkInterfaceFactory
from tests.installs.factories import DeviceFactory, InstallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def installing():
    nic = NetworkInterfaceFactory(mac="52:54:00:aa:cc:01")
    server = nic.server
    provisioning_network_set(facility=server.facility, network="127.151.0.0/24")
    provisioning_reserve(servers=[server])
    device = DeviceFactory(facility=server.facility, plan=server.plan, server=server, state=DeviceState.PROVISIONING)
    return InstallFactory(device=device, server=server, operating_system=device.operating_system,
                          state=InstallState.RUNNING, step="wait_ipxe")


def reserved(install) -> str:
    return ProvisioningReservation.objects.get(interface__server=install.server).address


def test_reservations_are_lowest_free_first_and_a_full_network_is_refused() -> None:
    nic = NetworkInterfaceFactory()
    provisioning_network_set(facility=nic.server.facility, network="127.152.0.0/29", gateway="127.152.0.1")
    for _ in range(4):
        NetworkInterfaceFactory(server__facility=nic.server.facility)
    assert provisioning_reserve(facility=nic.server.facility) == 5  # .2-.6: not the network, gateway or broadcast
    assert sorted(ProvisioningReservation.objects.values_list("address", flat=True)) == [f"127.152.0.{n}" for n in range(2, 7)]
    NetworkInterfaceFactory(server__facility=nic.server.facility)
    with pytest.raises(ValidationError, match="is full"):
        provisioning_reserve(facility=nic.server.facility)
    with pytest.raises(ValidationError):
        provisioning_network_set(facility=nic.server.facility, network="not-a-network")
    with pytest.raises(ValidationError):
        provisioning_network_set(facility=nic.server.facility, network="127.152.0.0/24", gateway="127.9.9.9")


def test_the_script_goes_only_to_the_reserved_address(installing) -> None:
    mac = "52-54-00-aa-cc-01"
    elsewhere = provisioning_client(REMOTE_ADDR="127.151.0.200").get(f"/ipxe/mac/{mac}")
    assert elsewhere.status_code == 403 and installing.secret.encode() not in elsewhere.content
    installing.refresh_from_db()
    assert installing.step == "wait_ipxe" and not installing.events.exists() and not DiscoveredMachine.objects.exists()
    here = provisioning_client(REMOTE_ADDR=reserved(installing)).get(f"/ipxe/mac/{mac}")
    assert here.status_code == 200 and f"/machine/{installing.pk}" in here.content.decode()
    # The claim too: only from the reserved address.
    assert provisioning_client(REMOTE_ADDR="127.151.0.200").post(f"/machine/{installing.pk}/claim").status_code == 403
    installing.refresh_from_db()
    assert installing.claimed_at is None and installing.step == "wait_ipxe"
    assert provisioning_client(REMOTE_ADDR=reserved(installing)).post(f"/machine/{installing.pk}/claim").status_code == 200


def test_a_reserved_address_cannot_pose_as_an_unknown_machine(installing) -> None:
    at = provisioning_client(REMOTE_ADDR=reserved(installing))
    assert at.get("/ipxe/mac/52-54-00-99-99-98").status_code == 403
    assert at.post("/discovery/52-54-00-99-99-98/inventory", data={}, content_type="application/json").status_code == 403
    assert not DiscoveredMachine.objects.exists()


def test_the_secret_from_another_address_is_refused(installing) -> None:
    provisioning_client(REMOTE_ADDR=reserved(installing)).post(f"/machine/{installing.pk}/claim")
    installing.refresh_from_db()
    events = installing.events.count()
    other = provisioning_client(REMOTE_ADDR="127.151.0.200", HTTP_X_METALYARD_SECRET=installing.secret)
    assert other.get(f"/machine/{installing.pk}/metadata").status_code == 403
    assert other.get(f"/machine/{installing.pk}/userdata").status_code == 403
    for path, body in (("events", {"type": "provisioning.105"}), ("phone-home", {"state": "installed"}),
                       ("failure", {"reason": "forged"})):
        assert other.post(f"/machine/{installing.pk}/{path}", data=body, content_type="application/json").status_code == 403
    installing.refresh_from_db()
    assert installing.state == InstallState.RUNNING and installing.step == "wait_phone_home"
    assert installing.events.count() == events


def test_a_forwarded_address_counts_only_from_a_trusted_proxy(settings) -> None:
    settings.PROVISIONING_TRUSTED_PROXIES = ["127.200.0.0/24"]
    factory = RequestFactory()
    direct = factory.get("/", REMOTE_ADDR="127.151.0.9", HTTP_X_FORWARDED_FOR="127.151.0.2")
    assert client_address(direct) == "127.151.0.9"  # nobody vouches for the header
    relayed = factory.get("/", REMOTE_ADDR="127.200.0.5", HTTP_X_FORWARDED_FOR="127.151.0.66, 127.151.0.2, 127.200.0.7")
    assert client_address(relayed) == "127.151.0.2"  # the right-most hop that is not a trusted proxy
    assert client_address(factory.get("/", REMOTE_ADDR="127.200.0.5")) is None
    assert client_address(factory.get("/", REMOTE_ADDR="::ffff:127.151.0.9")) == "127.151.0.9"
