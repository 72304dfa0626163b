"""The metadata service for a device's whole life, found by the caller's address: the provisioning
reservation while it installs, its own assigned addresses once it runs, a trusted proxy's forwarded
address. Read-only, rate-limited; anyone else gets 404 and learns nothing."""
from __future__ import annotations

import pytest

from apps.installs.models import DeviceState
from apps.ipam.services import server_addresses_assign
from tests.conftest import provisioning_client
from tests.installs.factories import DeviceFactory, provisioning_address

pytestmark = pytest.mark.django_db

KEYS = ["ssh-ed25519 AAAAC3Nza first@example", "ssh-ed25519 AAAAC3Nzb second@example"]
USERDATA = "#cloud-config\nwrite_files: [{path: /etc/motd, content: hello}]\n"


@pytest.fixture
def running(rack):
    server = rack["servers"][0]
    device = DeviceFactory(facility=rack["facility"], plan=rack["plan"], operating_system=rack["os"], server=server,
                           state=DeviceState.ACTIVE, hostname="db1", ssh_keys=KEYS, userdata=USERDATA)
    assigned = server_addresses_assign(server=server, device_label=device.hostname)
    public4 = next(str(a.address) for a in assigned if a.family == 4 and a.public)
    return {"device": device, "reserved": provisioning_address(server), "public": public4}


def test_the_device_reads_its_metadata_from_its_reservation_and_its_own_address(running) -> None:
    for address in (running["reserved"], running["public"]):
        doc = provisioning_client(REMOTE_ADDR=address).get("/metadata").json()
        assert doc["id"] == str(running["device"].pk) and doc["hostname"] == "db1" and doc["ssh_keys"] == KEYS
        assert running["public"] in [a["address"] for a in doc["network"]["addresses"]]
        assert "secret" not in str(doc) and "install" not in str(doc)
        assert provisioning_client(REMOTE_ADDR=address).get("/userdata").content.decode() == USERDATA


def test_the_ec2_tree(running) -> None:
    machine = provisioning_client(REMOTE_ADDR=running["public"])
    listing = machine.get("/2009-04-04/meta-data/").content.decode().splitlines()
    assert {"hostname", "instance-id", "public-keys/", "placement/", "public-ipv4"} <= set(listing)
    assert machine.get("/latest/meta-data/hostname").content.decode() == "db1"
    assert machine.get("/latest/meta-data/public-ipv4").content.decode() == running["public"]
    assert machine.get("/latest/meta-data/placement/availability-zone").content.decode() == running["device"].server.facility.code
    assert machine.get("/latest/meta-data/public-keys/").content.decode() == "0=key-0\n1=key-1"
    assert machine.get("/latest/meta-data/public-keys/1/openssh-key").content.decode() == KEYS[1]
    assert machine.get("/latest/user-data").content.decode() == USERDATA
    assert machine.get("/latest/meta-data/nothing").status_code == 404


def test_another_address_gets_nothing_and_a_deleted_device_is_gone(running) -> None:
    stranger = provisioning_client(REMOTE_ADDR="127.99.0.1")
    for path in ("/metadata", "/userdata", "/latest/meta-data/", "/latest/user-data"):
        answer = stranger.get(path)
        assert answer.status_code == 404 and b"db1" not in answer.content
    from apps.installs.models import Device

    Device.objects.filter(pk=running["device"].pk).update(state=DeviceState.DELETED)
    assert provisioning_client(REMOTE_ADDR=running["reserved"]).get("/metadata").status_code == 404


def test_read_only_and_rate_limited(running, settings) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.METADATA_RATE_PER_MINUTE = 3
    machine = provisioning_client(REMOTE_ADDR=running["reserved"])
    assert machine.post("/metadata", data={}, content_type="application/json").status_code == 405
    answers = [machine.get("/latest/meta-data/hostname") for _ in range(4)]
    assert [a.status_code for a in answers].count(200) <= 3 and answers[-1].status_code == 429
    assert 0 < int(answers[-1]["Retry-After"]) <= 60


def test_a_trusted_proxy_forwards_the_device_address(running, settings) -> None:
    settings.PROVISIONING_TRUSTED_PROXIES = ["127.201.0.0/24"]
    via_proxy = provisioning_client(REMOTE_ADDR="127.201.0.1", HTTP_X_FORWARDED_FOR=running["public"])
    assert via_proxy.get("/latest/meta-data/hostname").content.decode() == "db1"
    untrusted = provisioning_client(REMOTE_ADDR="127.99.0.2", HTTP_X_FORWARDED_FOR=running["public"])
    assert untrusted.get("/latest/meta-data/hostname").status_code == 404
