"""Commissioning's cross-check of the BMC's own view, its identity part: the lab BMCs serve the serial number of
their machine as real ones do (IPMI FRU 0 read by pyghmi's get_inventory, Redfish's SerialNumber), and the
drivers read it back."""
from __future__ import annotations

import pytest

from apps.hardware.drivers import BmcTarget, driver_for
from tests.installs.lab_site import lab_site, provisioning_server  # noqa: F401 - fixtures
from tests.lab.bmc_fixtures import ipmi_lab, redfish_lab  # noqa: F401 - fixtures

USERNAME, PASSWORD = "admin", "lab-secret"


def test_an_ipmi_bmc_tells_its_machines_serial_from_its_fru(ipmi_lab) -> None:  # noqa: F811
    port = ipmi_lab.add(name="fru", username=USERNAME, password=PASSWORD, system_serial="DA11-R02-20")
    with driver_for(BmcTarget("ipmi", "127.0.0.1", port, USERNAME, PASSWORD, timeout=10)) as driver:
        assert driver.system_serial() == "DA11-R02-20"
        ipmi_lab.set_state(port, system_serial="SWAPPED-BOARD-7")
        assert driver.system_serial() == "SWAPPED-BOARD-7"
    empty = ipmi_lab.add(name="no-fru-serial", username=USERNAME, password=PASSWORD)
    with driver_for(BmcTarget("ipmi", "127.0.0.1", empty, USERNAME, PASSWORD, timeout=10)) as driver:
        assert driver.system_serial() == ""


@pytest.mark.slow
def test_a_redfish_bmc_tells_its_machines_serial(redfish_lab) -> None:  # noqa: F811
    emulator = redfish_lab.add(name="rf-serial", username=USERNAME, password=PASSWORD, system_serial="NY5-R01-03")
    target = BmcTarget("redfish", "127.0.0.1", emulator.port, USERNAME, PASSWORD, cert_fingerprint=emulator.fingerprint, timeout=15)
    with driver_for(target) as driver:
        assert driver.system_serial() == "NY5-R01-03"


# ---------------------------------------------------------------------------------------------- commissioning


def _commission_with_report(lab_site, *, index: int, bmc_serial: str | None = None, report_serial: str | None = None):  # noqa: ANN001, ANN202, F811
    """A new server's discovery boot; the machine's part (claim, report) is played here, with the lab's perfect
    report (optionally naming another serial), and its BMC optionally telling another serial."""
    from apps.hardware.models import Server
    from apps.installs.models import Install
    from apps.installs.services import orders
    from apps.lab import machines
    from tests.conftest import provisioning_client
    from tests.installs.factories import provisioning_address
    from tests.installs.lab_site import wait_for

    machines.emulate(False)
    server = lab_site.add_server(index, inventory=False)
    Server.objects.filter(pk=server.pk).update(state="new")
    run = orders.server_commission(server=server)
    assert wait_for(lambda: Install.objects.get(pk=run.pk).step == "wait_ipxe", timeout=60)
    lab_site.ipmi.set_state(lab_site.bmc_ports[server.pk], power="on", **({"system_serial": bmc_serial} if bmc_serial is not None else {}))
    client = provisioning_client(REMOTE_ADDR=provisioning_address(server))
    secret = client.post(f"/machine/{run.pk}/claim").json()["secret"]
    report = machines.lab_inventory(str(server.pk), server.interfaces.get().mac)
    if report_serial is not None:
        report["system"] = {"serial": report_serial}
    assert client.post(f"/machine/{run.pk}/inventory", data=report, content_type="application/json",
                       HTTP_X_METALYARD_SECRET=secret).status_code == 200
    assert wait_for(lambda: Install.objects.get(pk=run.pk).state != "running", timeout=60)
    run.refresh_from_db()
    server.refresh_from_db()
    return server, run


@pytest.mark.slow
def test_a_bmc_that_names_another_machine_fails_the_server(lab_site) -> None:  # noqa: F811
    server, run = _commission_with_report(lab_site, index=11, bmc_serial="SOMEONE-ELSES-BOARD")
    reason = (f"the BMC reports serial number SOMEONE-ELSES-BOARD but the records say {server.serial}: the BMC belongs to "
              "another machine or the board was replaced")
    assert server.state == "failed", server.state
    assert run.state == "failed" and run.failure_reason == f"bmc_check: {reason}"
    from apps.audit.models import AuditEvent

    moved = AuditEvent.objects.filter(target_id=str(server.pk), reason__contains="SOMEONE-ELSES-BOARD").get()
    assert moved.changes["state"] == ["commissioning", "failed"] and moved.reason == f"commissioning {run.pk}: {reason}"
    assert list(run.events.values_list("type", flat=True))[-2:] == ["commissioning.bmc", "provisioning.failed"]


@pytest.mark.slow
def test_a_report_naming_another_serial_than_the_bmc_fails_the_server(lab_site) -> None:  # noqa: F811
    server, run = _commission_with_report(lab_site, index=12, report_serial="FORGED-0001")
    assert server.state == "failed"
    assert run.failure_reason == (f"bmc_check: the discovery report names serial number FORGED-0001 but the BMC reports "
                                  f"{server.serial}: the report is not this machine's")


@pytest.mark.slow
def test_the_bmc_confirming_power_and_serial_makes_the_server_ready(lab_site) -> None:  # noqa: F811
    server, run = _commission_with_report(lab_site, index=13)
    assert (server.state, run.state) == ("ready", "succeeded"), run.failure_reason
    assert run.events.get(type="commissioning.bmc").body == f"BMC confirms power on and serial number {server.serial}"
