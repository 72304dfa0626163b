"""Finding 1 of the security review, attack by attack: an attacker on the provisioning network knows
(or guesses) MACs, and may even have learned an install's id or secret. Each attack is replayed as the
review did it and must fail with nothing changed in the database (every row, tests/security/dbstate.py).

The victim's machine is at its NIC's provisioning reservation; the attacker is elsewhere on the network
(another address, or another tenant's machine with a reservation of its own)."""
from __future__ import annotations

import pytest

from apps.hardware.models import CommissioningReport
from apps.installs.models import DeviceState, InstallKind, InstallState
from tests.conftest import provisioning_client
from tests.hardware.factories import NetworkInterfaceFactory
from tests.installs.factories import DeviceFactory, InstallFactory, provisioning_address
from tests.security.dbstate import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db

ATTACKER = "127.151.9.9"  # an address on the provisioning network that is nobody's reservation
VICTIM_MAC = "0c:c4:7a:00:00:64"


def run_of(kind: str, step: str, *, state: str = InstallState.RUNNING, mac: str = VICTIM_MAC, device_state: str = DeviceState.PROVISIONING):
    nic = NetworkInterfaceFactory(mac=mac)
    server = nic.server
    device = None
    if kind != InstallKind.COMMISSIONING:
        device = DeviceFactory(facility=server.facility, plan=server.plan, server=server, state=device_state,
                               userdata="#cloud-config\npassword: B-TENANT-SECRET-db-password\n")
    install = InstallFactory(kind=kind, device=device, server=server, operating_system=device.operating_system if device else None,
                             state=state, step=step)
    return install, provisioning_address(server)


def call(client, method: str, path: str, body=None, secret: str | None = None):
    headers = {"HTTP_X_METALYARD_SECRET": secret} if secret else {}
    if method == "GET":
        return client.get(path, **headers)
    return client.post(path, data=body or {}, content_type="application/json", **headers)


def assert_unchanged(before: dict[str, str]) -> None:
    assert changed_tables(before, db_fingerprint()) == []


def test_scanning_guessed_macs_finds_no_install_and_records_nothing() -> None:
    install, _ = run_of(InstallKind.PROVISION, "wait_ipxe")
    _, other_address = run_of(InstallKind.PROVISION, "wait_ipxe", mac="0c:c4:7a:00:01:00")
    before = db_fingerprint()
    for scanner in (provisioning_client(REMOTE_ADDR=ATTACKER), provisioning_client(REMOTE_ADDR=other_address)):
        answers = [scanner.get(f"/ipxe/mac/0c-c4-7a-00-00-{n:02x}") for n in range(200)]
        texts = [a.content.decode() for a in answers]
        assert all(install.secret not in t and str(install.pk) not in t for t in texts)
        assert answers[0x64].status_code == 403  # the victim's MAC, from the wrong address
    assert_unchanged(before)


def test_a_known_install_id_cannot_be_claimed_from_elsewhere_nor_twice() -> None:
    install, victim = run_of(InstallKind.PROVISION, "wait_ipxe")
    before = db_fingerprint()
    answer = call(provisioning_client(REMOTE_ADDR=ATTACKER), "POST", f"/machine/{install.pk}/claim")
    assert answer.status_code == 403 and install.secret not in answer.content.decode()
    assert_unchanged(before)
    assert call(provisioning_client(REMOTE_ADDR=victim), "POST", f"/machine/{install.pk}/claim").status_code == 200
    before = db_fingerprint()
    replay = call(provisioning_client(REMOTE_ADDR=victim), "POST", f"/machine/{install.pk}/claim")
    assert replay.status_code == 409 and install.secret not in replay.content.decode()
    assert_unchanged(before)


def test_a_leaked_secret_reads_no_userdata_from_elsewhere_nor_after_the_install() -> None:
    install, victim = run_of(InstallKind.PROVISION, "wait_phone_home")
    attacker = provisioning_client(REMOTE_ADDR=ATTACKER)
    before = db_fingerprint()
    for path in ("userdata", "metadata"):
        answer = call(attacker, "GET", f"/machine/{install.pk}/{path}", secret=install.secret)
        assert answer.status_code == 403 and b"B-TENANT-SECRET" not in answer.content
    for path in ("/userdata", "/metadata", "/latest/user-data"):
        assert b"B-TENANT-SECRET" not in attacker.get(path).content
    assert_unchanged(before)
    # The run has ended (failed here): the secret reads nothing any more, even from the machine's address.
    type(install).objects.filter(pk=install.pk).update(state=InstallState.FAILED)
    before = db_fingerprint()
    late = call(provisioning_client(REMOTE_ADDR=victim), "GET", f"/machine/{install.pk}/userdata", secret=install.secret)
    assert late.status_code == 409 and b"B-TENANT-SECRET" not in late.content
    assert_unchanged(before)


@pytest.mark.parametrize(("path", "body"), [
    ("events", {"type": "provisioning.106", "body": "attacker was here"}),
    ("phone-home", {"state": "installed"}),
    ("failure", {"reason": "checksum mismatch (attacker)"}),
])
def test_forged_events_phone_home_and_failure_from_elsewhere_change_nothing(path: str, body: dict) -> None:
    install, _ = run_of(InstallKind.PROVISION, "wait_phone_home")
    before = db_fingerprint()
    answer = call(provisioning_client(REMOTE_ADDR=ATTACKER), "POST", f"/machine/{install.pk}/{path}", body, secret=install.secret)
    assert answer.status_code == 403
    assert_unchanged(before)


def test_a_forged_wiped_never_returns_a_server_unwiped() -> None:
    # A deprovision waiting for its wipe: "wiped" from elsewhere, without an attestation, or naming the
    # wrong disks, is refused; so is "wiped" for a provision and "installed" for a deprovision.
    wipe, victim = run_of(InstallKind.DEPROVISION, "wait_phone_home", device_state=DeviceState.DEPROVISIONING)
    CommissioningReport.objects.create(server=wipe.server, data={"disks": [
        {"name": "sda", "size_gb": 480.0, "serial": "S4EV-0001"}, {"name": "sdb", "size_gb": 480.0, "serial": "S4EV-0002"}]})
    provision, provision_address = run_of(InstallKind.PROVISION, "wait_phone_home", mac="0c:c4:7a:00:02:00")
    machine = provisioning_client(REMOTE_ADDR=victim)
    before = db_fingerprint()
    assert call(provisioning_client(REMOTE_ADDR=ATTACKER), "POST", f"/machine/{wipe.pk}/phone-home", {"state": "wiped"},
                secret=wipe.secret).status_code == 403
    assert call(machine, "POST", f"/machine/{wipe.pk}/phone-home", {"state": "wiped"}, secret=wipe.secret).status_code == 409
    one_disk = {"state": "wiped", "disks": [{"serial": "S4EV-0001", "size_bytes": 480_000_000_000}]}
    assert call(machine, "POST", f"/machine/{wipe.pk}/phone-home", one_disk, secret=wipe.secret).status_code == 409
    wrong_size = {"state": "wiped", "disks": [{"serial": "S4EV-0001", "size_bytes": 480_000_000_000},
                                              {"serial": "S4EV-0002", "size_bytes": 16 * 2**20}]}
    assert call(machine, "POST", f"/machine/{wipe.pk}/phone-home", wrong_size, secret=wipe.secret).status_code == 409
    assert call(machine, "POST", f"/machine/{wipe.pk}/phone-home", {"state": "installed"}, secret=wipe.secret).status_code == 409
    assert call(provisioning_client(REMOTE_ADDR=provision_address), "POST", f"/machine/{provision.pk}/phone-home",
                {"state": "wiped", "disks": []}, secret=provision.secret).status_code == 409
    assert_unchanged(before)


def test_a_wipe_that_names_every_known_disk_is_accepted() -> None:
    from apps.installs.services.machine import wipe_attestation_check

    wipe, _ = run_of(InstallKind.DEPROVISION, "wait_phone_home", device_state=DeviceState.DEPROVISIONING)
    CommissioningReport.objects.create(server=wipe.server, data={"disks": [{"size_gb": 480.0, "serial": "S4EV-0001"}]})
    wipe_attestation_check(install=wipe, disks=[{"serial": "S4EV-0001", "size_bytes": 480_103_981_056}])  # raises nothing


def test_a_failure_report_cannot_cut_a_platform_step_short() -> None:
    install, victim = run_of(InstallKind.PROVISION, "port")
    before = db_fingerprint()
    answer = call(provisioning_client(REMOTE_ADDR=victim), "POST", f"/machine/{install.pk}/failure", {"reason": "forged"},
                  secret=install.secret)
    assert answer.status_code == 409
    assert_unchanged(before)


def test_a_forged_hardware_report_from_elsewhere_commissions_nothing() -> None:
    install, _ = run_of(InstallKind.COMMISSIONING, "wait_inventory")
    type(install.server).objects.filter(pk=install.server.pk).update(state="commissioning")
    report = {"cpu": {"count": 1}, "ram_gb": 64, "disks": [], "nics": [{"name": "eth0", "mac": VICTIM_MAC}]}
    before = db_fingerprint()
    for client in (provisioning_client(REMOTE_ADDR=ATTACKER), provisioning_client(REMOTE_ADDR="127.0.0.1")):
        assert call(client, "POST", f"/machine/{install.pk}/inventory", report, secret=install.secret).status_code == 403
        # Nor as a stranger: a known MAC is never "discovered".
        assert call(client, "POST", "/discovery/0c-c4-7a-00-00-64/inventory", report).status_code == 403
    install.server.refresh_from_db()
    assert install.server.state == "commissioning" and not CommissioningReport.objects.filter(server=install.server).exists()
    assert_unchanged(before)


def test_unknown_machines_cannot_grow_the_discovery_list_forever(settings) -> None:
    from apps.installs.models import DiscoveredMachine

    settings.DISCOVERY_MAX_MACHINES = 3
    stranger = provisioning_client(REMOTE_ADDR=ATTACKER)
    codes = [call(stranger, "POST", f"/discovery/52-54-00-00-00-{n:02x}/inventory", {"cpu": {}}).status_code for n in range(5)]
    assert codes == [201, 201, 201, 409, 409]
    assert DiscoveredMachine.objects.count() == 3
    # One already listed may report again.
    assert call(stranger, "POST", "/discovery/52-54-00-00-00-00/inventory", {"cpu": {"count": 2}}).status_code == 201
