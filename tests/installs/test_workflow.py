"""The install workflow end to end on lab hardware (IPMI BMCs, a Junos switch, emulated machines
calling the live platform), and the failure matrix: every failure ends clean — no addresses held,
the switch port isolated, the server in maintenance, the device and the run failed with a reason."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.installs.models import DeviceState, Install, InstallKind, InstallState
from apps.installs.selectors import install_percentage
from apps.installs.services import orders, workflow
from apps.lab import machines
from tests.conftest import provisioning_client
from tests.installs.factories import OperatingSystemFactory, provisioning_address
from tests.installs.lab_site import wait_for

# The emulated machines call a live server from other threads; Django's SQLite test database is one
# in-memory connection shared by those threads, which cannot carry concurrent writers.
pytestmark = [pytest.mark.timeout(180), pytest.mark.postgres]

PROVISION_EVENTS = ["provisioning.101", "provisioning.102", "provisioning.103", "provisioning.104.01", "provisioning.104",
                    "provisioning.105", "provisioning.106", "provisioning.107", "provisioning.108", "provisioning.109",
                    "provisioning.110"]


def order(site, hostname: str = "web1", os_=None):
    from tests.factories import ProjectFactory

    return orders.device_create(project=ProjectFactory(), hostname=hostname, plan=site.plan, facility=site.facility,
                                  operating_system=os_ or site.os, ssh_keys=["ssh-ed25519 AAAA test"], userdata="#!/bin/sh\necho hi\n")


def settled(device, *states: str, timeout: float = 90.0):
    def check():
        device.refresh_from_db()
        return device.state in states
    assert wait_for(check, timeout=timeout), f"device stayed {device.state}; runs: " + "; ".join(
        f"{i.kind} {i.state} at {i.step} {i.failure_reason}" for i in device.installs.all())
    return device


def assert_clean(server, *, state: str = "maintenance") -> None:
    """Nothing leaks: no active addresses, every cabled port isolated, the server where it should be."""
    from apps.ipam.selectors import server_addresses
    from apps.network.models import PortConfig

    server.refresh_from_db()
    assert server.state == state
    assert server_addresses(server) == []
    configs = list(PortConfig.objects.filter(port__cable__interface__server=server))
    assert configs and all(c.mode == "isolated" and c.addresses == [] for c in configs)
    assert all(c.applied_version == c.desired_version for c in configs), "the isolation was not pushed to the switch"


def test_an_order_goes_active_through_lab_hardware(lab_site) -> None:
    from apps.ipam.selectors import server_addresses
    from apps.network.models import PortConfig

    device = settled(order(lab_site), DeviceState.ACTIVE, DeviceState.FAILED)
    assert device.state == DeviceState.ACTIVE, device.failure_reason
    install = device.installs.get()
    assert install.state == InstallState.SUCCEEDED and install.step == "done"
    assert list(install.events.values_list("type", flat=True)) == PROVISION_EVENTS
    assert install_percentage(install) == 100
    server = device.server
    server.refresh_from_db()
    assert server.state == "active"
    addresses = server_addresses(server)
    assert [(a.family, a.public, a.prefix_length) for a in addresses] == [(4, True, 31), (4, False, 31), (6, True, 127)]
    assert all(a.device_id == device.pk for a in addresses)
    config = PortConfig.objects.get(port__cable__interface__server=server)
    assert config.mode == "provisioned" and config.applied_version == config.desired_version
    running = "\n".join(lab_site.lab_switch.running_lines())
    assert f"{addresses[0].gateway}/31" in running
    # Netboot, then after phone-home: next boot from disk and a power cycle, every call answered.
    calls = list(server.power_events.order_by("pk").values_list("action", "outcome"))
    assert [a for a, _ in calls] == ["boot_network", "off", "on", "boot_disk", "off", "on"]
    assert {o for _, o in calls} == {"ok"}


def test_reinstall_keeps_the_server_and_the_addresses(lab_site) -> None:
    from apps.ipam.selectors import server_addresses

    device = settled(order(lab_site), DeviceState.ACTIVE, DeviceState.FAILED)
    server, before = device.server, [a.network for a in server_addresses(device.server)]
    other = OperatingSystemFactory(plans=[lab_site.plan], image_url=lab_site.os.image_url)
    orders.device_reinstall(device=device, operating_system=other, reason="test")
    device = settled(device, DeviceState.ACTIVE, DeviceState.FAILED)
    assert device.state == DeviceState.ACTIVE
    run = device.installs.get(kind=InstallKind.REINSTALL)
    assert run.state == InstallState.SUCCEEDED and run.server_id == server.pk
    assert device.server_id == server.pk and device.operating_system_id == other.pk
    assert [a.network for a in server_addresses(server)] == before


def test_delete_wipes_isolates_releases_and_returns_the_server(lab_site) -> None:
    device = settled(order(lab_site), DeviceState.ACTIVE, DeviceState.FAILED)
    server = device.server
    orders.device_delete(device=device, reason="test")
    device = settled(device, DeviceState.DELETED, DeviceState.FAILED)
    assert device.state == DeviceState.DELETED and device.server_id is None
    wipe = Install.objects.get(device=device, kind=InstallKind.DEPROVISION)
    assert wipe.state == InstallState.SUCCEEDED
    assert "provisioning.105" in list(wipe.events.values_list("type", flat=True))
    assert_clean(server, state="ready")


# ---------------------------------------------------------------------------------------------- failures


def test_a_server_that_never_fetches_its_script_fails_clean(lab_site) -> None:
    machines.emulate(False)  # the BMC powers on, but nothing boots
    device = order(lab_site)
    install = device.installs.get()
    assert wait_for(lambda: Install.objects.get(pk=install.pk).step == "wait_ipxe", timeout=60)
    workflow.installs_watchdog(now=timezone.now() + dt.timedelta(hours=2))
    device.refresh_from_db()
    install.refresh_from_db()
    assert device.state == DeviceState.FAILED and device.server_id is None
    assert install.state == InstallState.FAILED
    assert install.failure_reason.startswith("the server never fetched its iPXE script within")
    assert_clean(install.server)


def test_a_server_that_never_phones_home_fails_clean(lab_site) -> None:
    machines.emulate(False)
    device = order(lab_site)
    install = device.installs.get()
    assert wait_for(lambda: Install.objects.get(pk=install.pk).step == "wait_ipxe", timeout=60)
    mac = install.server.interfaces.get().mac
    # The machine netboots, then dies before it finishes.
    machine = provisioning_client(REMOTE_ADDR=provisioning_address(install.server))
    assert f"/machine/{install.pk}" in machine.get(f"/ipxe/mac/{mac}").content.decode()
    assert machine.post(f"/machine/{install.pk}/claim").status_code == 200
    workflow.installs_watchdog(now=timezone.now() + dt.timedelta(hours=3))
    install.refresh_from_db()
    assert install.state == InstallState.FAILED
    assert install.failure_reason.startswith("the server never phoned home within")
    assert_clean(install.server)


def test_an_installed_system_that_never_phones_home_fails_clean(lab_site, monkeypatch) -> None:
    # The installer finishes; the installed system then hangs at boot and never calls home.
    monkeypatch.setattr(machines.LightMachine, "first_boot", lambda self: None)
    device = order(lab_site)
    install = device.installs.get()
    assert wait_for(lambda: Install.objects.get(pk=install.pk).step == "wait_first_boot", timeout=60)
    assert install.events.filter(type="provisioning.109").exists()
    workflow.installs_watchdog(now=timezone.now() + dt.timedelta(hours=1))
    install.refresh_from_db()
    device.refresh_from_db()
    assert install.state == InstallState.FAILED and device.state == DeviceState.FAILED
    assert install.failure_reason.startswith("the server never phoned home from its installed operating system within")
    assert not install.events.filter(type="provisioning.110").exists()
    assert_clean(install.server)


def test_a_checksum_mismatch_fails_clean_with_the_installers_reason(lab_site) -> None:
    bad = OperatingSystemFactory(plans=[lab_site.plan], image_url=lab_site.os.image_url, image_sha256="0" * 64)
    device = settled(order(lab_site, os_=bad), DeviceState.ACTIVE, DeviceState.FAILED)
    assert device.state == DeviceState.FAILED
    install = device.installs.get()
    assert install.state == InstallState.FAILED
    assert "checksum mismatch" in install.failure_reason and "checksum mismatch" in device.failure_reason
    assert_clean(install.server)


def test_a_silent_bmc_is_retried_then_fails_clean(lab_site, settings) -> None:
    settings.INSTALL_STEP_MAX_ATTEMPTS = 2
    settings.BMC_TIMEOUT = 1.0
    for server in lab_site.servers:
        lab_site.ipmi.set_mode(lab_site.bmc_ports[server.pk], "silent")
    device = order(lab_site)
    install = device.installs.get()
    install.refresh_from_db()
    assert install.state == InstallState.RUNNING and install.step == "netboot" and install.step_attempts == 1
    workflow.installs_watchdog(now=timezone.now() + dt.timedelta(minutes=10))  # the second attempt
    install.refresh_from_db()
    assert install.state == InstallState.FAILED
    assert install.failure_reason.startswith("step 'netboot' failed 2 times")
    assert "clean-up: power off" in install.failure_reason  # said, not hidden; the rest was still cleaned
    device.refresh_from_db()
    assert device.state == DeviceState.FAILED
    assert_clean(install.server)


def test_a_worker_killed_mid_step_is_resumed_and_finishes(lab_site) -> None:
    from apps.ipam.models import Assignment
    from tests.factories import ProjectFactory
    from tests.installs.factories import DeviceFactory

    device = DeviceFactory(project=ProjectFactory(), plan=lab_site.plan, facility=lab_site.facility, operating_system=lab_site.os)
    install = Install.objects.create(kind=InstallKind.PROVISION, device=device, operating_system=lab_site.os)
    # A worker ran the first step and the next one, then died inside "port" (it had claimed the attempt).
    workflow.install_advance(install_id=install.pk, max_steps=2)
    install.refresh_from_db()
    assert install.step == "port"
    Install.objects.filter(pk=install.pk).update(step_attempts=1, deadline=timezone.now() - dt.timedelta(seconds=1))
    assert workflow.installs_watchdog() == {"failed": 0, "resumed": 1}
    device = settled(device, DeviceState.ACTIVE, DeviceState.FAILED)
    assert device.state == DeviceState.ACTIVE
    assert Assignment.objects.filter(server=device.server, released_at__isnull=True).count() == 3


def test_a_step_that_keeps_dying_fails_clean_instead_of_sticking(lab_site, settings) -> None:
    from tests.factories import ProjectFactory
    from tests.installs.factories import DeviceFactory

    device = DeviceFactory(project=ProjectFactory(), plan=lab_site.plan, facility=lab_site.facility, operating_system=lab_site.os)
    install = Install.objects.create(kind=InstallKind.PROVISION, device=device, operating_system=lab_site.os)
    workflow.install_advance(install_id=install.pk, max_steps=2)
    Install.objects.filter(pk=install.pk).update(step_attempts=settings.INSTALL_STEP_MAX_ATTEMPTS,
                                                 deadline=timezone.now() - dt.timedelta(seconds=1))
    assert workflow.installs_watchdog() == {"failed": 1, "resumed": 0}
    install.refresh_from_db()
    assert install.state == InstallState.FAILED and "did not finish after" in install.failure_reason
    assert_clean(install.server)


def test_a_new_server_is_commissioned_by_its_discovery_boot(lab_site) -> None:
    from apps.hardware.models import CommissioningReport, Server

    server = lab_site.add_server(7, inventory=False)
    Server.objects.filter(pk=server.pk).update(state="new")
    run = orders.server_commission(server=server)
    assert wait_for(lambda: Install.objects.get(pk=run.pk).state != InstallState.RUNNING, timeout=60)
    run.refresh_from_db()
    server.refresh_from_db()
    assert run.state == InstallState.SUCCEEDED, run.failure_reason
    assert server.state == "ready", list(server.findings.values_list("message", flat=True))  # matched plan and cabling
    report = CommissioningReport.objects.get(server=server)
    assert report.data["nics"][0]["lldp"] == {"switch": "lab-sw1", "port": "xe-0/0/7"}
    # The report alone did not make it ready: the BMC confirmed the machine is on, over its own channel.
    assert list(run.events.values_list("type", flat=True)) == ["commissioning.inventory", "commissioning.bmc"]


def test_a_malformed_inventory_is_refused_and_changes_nothing(lab_site) -> None:
    from apps.hardware.models import CommissioningReport, Server

    machines.emulate(False)
    server = lab_site.add_server(8, inventory=False)
    Server.objects.filter(pk=server.pk).update(state="new")
    run = orders.server_commission(server=server)
    assert wait_for(lambda: Install.objects.get(pk=run.pk).step == "wait_ipxe", timeout=60)
    client = provisioning_client(REMOTE_ADDR=provisioning_address(server))
    assert "metalyard.mode=discover" in client.get(f"/ipxe/mac/{server.interfaces.get().mac}").content.decode()
    secret = client.post(f"/machine/{run.pk}/claim").json()["secret"]
    answer = client.post(f"/machine/{run.pk}/inventory", data={"cpu": 1}, content_type="application/json",
                         HTTP_X_METALYARD_SECRET=secret)
    assert answer.status_code == 400
    run.refresh_from_db()
    assert run.step == "wait_inventory" and run.state == InstallState.RUNNING
    assert not CommissioningReport.objects.filter(server=server).exists()


def test_a_matching_report_is_not_trusted_when_the_bmc_says_the_machine_is_off(lab_site) -> None:
    from apps.hardware.models import Server

    machines.emulate(False)
    server = lab_site.add_server(9, inventory=False)
    Server.objects.filter(pk=server.pk).update(state="new")
    run = orders.server_commission(server=server)
    assert wait_for(lambda: Install.objects.get(pk=run.pk).step == "wait_ipxe", timeout=60)
    # Someone posts a perfect report, but the machine is not running: its BMC says off.
    lab_site.ipmi.set_state(lab_site.bmc_ports[server.pk], power="off")
    client = provisioning_client(REMOTE_ADDR=provisioning_address(server))
    secret = client.post(f"/machine/{run.pk}/claim").json()["secret"]
    report = machines.lab_inventory(str(server.pk), server.interfaces.get().mac)
    assert client.post(f"/machine/{run.pk}/inventory", data=report, content_type="application/json",
                       HTTP_X_METALYARD_SECRET=secret).status_code == 200
    assert wait_for(lambda: Install.objects.get(pk=run.pk).state != InstallState.RUNNING, timeout=60)
    run.refresh_from_db()
    server.refresh_from_db()
    assert run.state == InstallState.FAILED and "BMC reports the server off" in run.failure_reason
    assert server.state != "ready"
