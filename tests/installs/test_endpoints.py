"""The endpoints netbooting machines call: scripts by MAC, and per-install calls guarded by the
install's secret. Refused calls get a 4xx and change nothing."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.installs.models import DeviceState, DiscoveredMachine, InstallEvent, InstallState
from tests.conftest import provisioning_client
from tests.hardware.factories import NetworkInterfaceFactory
from tests.installs.factories import DeviceFactory, InstallFactory

pytestmark = pytest.mark.django_db


MACHINE_ADDRESS = "127.150.0.10"


def reserve(server, address: str = MACHINE_ADDRESS) -> str:
    """The server's NIC holds `address` on its facility's provisioning network."""
    from apps.installs.models import ProvisioningReservation
    from apps.installs.provisioning import provisioning_network_set

    network = provisioning_network_set(facility=server.facility, network="127.150.0.0/24")
    ProvisioningReservation.objects.create(interface=server.interfaces.first(), network=network, address=address)
    return address


@pytest.fixture
def client() -> Client:
    """These calls come from a machine on the provisioning listener, from MACHINE_ADDRESS."""
    return provisioning_client(REMOTE_ADDR=MACHINE_ADDRESS)


@pytest.fixture
def installing():
    """A server whose provisioning run waits for its machine to netboot."""
    nic = NetworkInterfaceFactory(mac="52:54:00:aa:bb:01")
    server = nic.server
    device = DeviceFactory(facility=server.facility, plan=server.plan, server=server, state=DeviceState.PROVISIONING)
    install = InstallFactory(device=device, server=server, operating_system=device.operating_system,
                             state=InstallState.RUNNING, step="wait_ipxe")
    reserve(server)
    return install


def test_the_entry_script_chains_to_the_per_mac_script(client: Client) -> None:
    answer = client.get("/ipxe/boot.ipxe", HTTP_HOST="10.0.2.2:8123")
    assert answer.status_code == 200
    assert answer.content.decode() == "#!ipxe\nchain http://10.0.2.2:8123/ipxe/mac/${net0/mac:hexhyp}\n"


def test_an_unknown_mac_boots_discovery_and_is_recorded(client: Client) -> None:
    answer = client.get("/ipxe/mac/52-54-00-99-99-99")
    text = answer.content.decode()
    assert answer.status_code == 200 and text.startswith("#!ipxe\n")
    assert "metalyard.mode=discover" in text and "/discovery/52-54-00-99-99-99" in text
    assert "metalyard.secret" not in text
    assert not DiscoveredMachine.objects.exists()  # a GET changes nothing
    posted = client.post("/discovery/52-54-00-99-99-99/inventory", data={"cpu": {"count": 2}}, content_type="application/json")
    assert posted.status_code == 201
    assert DiscoveredMachine.objects.get(mac="52:54:00:99:99:99").inventory == {"cpu": {"count": 2}}


def test_a_malformed_mac_is_refused(client: Client) -> None:
    assert client.get("/ipxe/mac/not-a-mac").status_code == 400
    assert not DiscoveredMachine.objects.exists()


def test_a_known_server_with_no_install_boots_from_disk(client: Client) -> None:
    nic = NetworkInterfaceFactory()
    reserve(nic.server)
    text = client.get(f"/ipxe/mac/{nic.mac.replace(':', '-')}").content.decode()
    assert "sanboot" in text and "kernel" not in text
    assert not DiscoveredMachine.objects.exists()


def test_an_installing_server_gets_its_installer_and_claims_its_secret_once(client: Client, installing) -> None:
    text = client.get("/ipxe/mac/52-54-00-AA-BB-01", HTTP_HOST="10.0.2.2:8123").content.decode()
    assert f"metalyard.api=http://10.0.2.2:8123/machine/{installing.pk}" in text
    assert "metalyard.secret" not in text and installing.secret not in text  # the script carries no secret
    assert "kernel http://10.0.2.2:8123/netboot/assets/vmlinuz" in text
    assert "initrd http://10.0.2.2:8123/netboot/assets/installer.cpio.gz" in text
    installing.refresh_from_db()
    assert installing.step == "wait_ipxe" and not installing.events.exists()  # the GET changed nothing
    assert client.get("/ipxe/mac/52-54-00-aa-bb-01", HTTP_HOST="10.0.2.2:8123").content.decode() == text
    claimed = client.post(f"/machine/{installing.pk}/claim")
    assert claimed.status_code == 200 and claimed.json() == {"secret": installing.secret, "mode": "install"}
    installing.refresh_from_db()
    assert installing.step == "wait_phone_home" and installing.claimed_at is not None
    assert list(installing.events.values_list("type", flat=True)) == ["provisioning.104.01"]
    # One-shot: a second claim (a replay, or anyone at that address later) gets nothing.
    again = client.post(f"/machine/{installing.pk}/claim")
    assert again.status_code == 409 and installing.secret not in again.content.decode()
    assert installing.events.count() == 1


def _post(client: Client, install, path: str, body, secret: str | None = None):
    headers = {} if secret is None else {"HTTP_X_METALYARD_SECRET": secret}
    return client.post(f"/machine/{install.pk}/{path}", data=body, content_type="application/json", **headers)


def test_events_need_the_secret_and_a_known_type(client: Client, installing) -> None:
    client.post(f"/machine/{installing.pk}/claim")
    before = InstallEvent.objects.count()
    assert _post(client, installing, "events", {"type": "provisioning.105"}).status_code == 403
    assert _post(client, installing, "events", {"type": "provisioning.105"}, secret="wrong").status_code == 403
    assert _post(client, installing, "events", "not json{", secret=installing.secret).status_code == 400
    assert _post(client, installing, "events", [1, 2], secret=installing.secret).status_code == 400
    assert _post(client, installing, "events", {"type": "provisioning.110"}, secret=installing.secret).status_code == 422
    assert _post(client, installing, "events", {"type": "provisioning.105", "body": 7}, secret=installing.secret).status_code == 422
    assert client.get(f"/machine/{installing.pk}/metadata").status_code == 403
    assert InstallEvent.objects.count() == before
    ok = _post(client, installing, "events", {"type": "provisioning.105", "body": "Server partitions created"}, secret=installing.secret)
    assert ok.status_code == 201
    assert installing.events.filter(type="provisioning.105").count() == 1


def test_an_unknown_install_looks_like_a_wrong_secret(client: Client) -> None:
    answer = client.post("/machine/00000000-0000-0000-0000-000000000000/phone-home", data={}, content_type="application/json",
                         HTTP_X_METALYARD_SECRET="x")
    assert answer.status_code == 403


def test_events_before_netboot_or_after_the_end_are_refused(client: Client, installing) -> None:
    # Still waiting for the iPXE fetch: the machine cannot be talking yet.
    assert _post(client, installing, "events", {"type": "provisioning.105"}, secret=installing.secret).status_code == 409
    assert _post(client, installing, "phone-home", {}, secret=installing.secret).status_code == 409
    installing.refresh_from_db()
    assert installing.step == "wait_ipxe" and installing.state == InstallState.RUNNING



def test_the_installed_system_cannot_call_before_the_installer_did(client: Client, installing) -> None:
    client.post(f"/machine/{installing.pk}/claim")
    secret = installing.secret
    assert _post(client, installing, "phone-home", {"state": "booted"}, secret=installing.first_boot_secret).status_code == 409
    # The installer's secret never says "booted": each phase has its own.
    assert _post(client, installing, "phone-home", {"state": "booted"}, secret=secret).status_code == 403
    # A state nobody sends is a malformed call.
    assert _post(client, installing, "phone-home", {"state": "rebooted"}, secret=secret).status_code == 422
    assert _post(client, installing, "phone-home", {"state": 3}, secret=secret).status_code == 422
    installing.refresh_from_db()
    assert installing.step == "wait_phone_home" and installing.state == InstallState.RUNNING
    assert not installing.events.filter(type="provisioning.110").exists()


@pytest.fixture
def first_booting():
    """A provisioning run whose server was just powered on from its disk, the installer done."""
    nic = NetworkInterfaceFactory(mac="52:54:00:aa:bb:02", server__state="provisioning")
    server = nic.server
    device = DeviceFactory(facility=server.facility, plan=server.plan, server=server, state=DeviceState.PROVISIONING)
    reserve(server)
    return InstallFactory(device=device, server=server, operating_system=device.operating_system,
                          state=InstallState.RUNNING, step="wait_first_boot")


def test_the_first_boot_phone_home_makes_the_device_active(client: Client, first_booting) -> None:
    secret = first_booting.secret
    # A repeated installer call (its retry) is not the first boot: nothing changes.
    assert _post(client, first_booting, "phone-home", {"state": "installed"}, secret=secret).status_code == 200
    first_booting.refresh_from_db()
    assert first_booting.step == "wait_first_boot" and first_booting.state == InstallState.RUNNING
    assert _post(client, first_booting, "phone-home", {"state": "booted"}, secret=secret).status_code == 403
    assert _post(client, first_booting, "phone-home", {"state": "installed"},
                 secret=first_booting.first_boot_secret).status_code == 403
    first_booting.refresh_from_db()
    assert first_booting.step == "wait_first_boot"
    secret = first_booting.first_boot_secret
    assert _post(client, first_booting, "phone-home", {"state": "booted"}, secret=secret).status_code == 200
    first_booting.refresh_from_db()
    assert first_booting.state == InstallState.SUCCEEDED and first_booting.step == "done"
    assert first_booting.events.get(type="provisioning.110").source == "machine"
    first_booting.device.refresh_from_db()
    first_booting.server.refresh_from_db()
    assert first_booting.device.state == DeviceState.ACTIVE and first_booting.server.state == "active"
    # Called again (the system rebooted): answered, and still one event.
    assert _post(client, first_booting, "phone-home", {"state": "booted"}, secret=secret).status_code == 200
    assert first_booting.events.filter(type="provisioning.110").count() == 1
