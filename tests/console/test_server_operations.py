"""Hands on the server through the API, with the real packet-python client where it has the call, on lab
hardware (IPMI BMCs, a Junos switch, emulated machines calling the live provisioning listener): locked
devices, rescue mode, custom iPXE with and without always_pxe, and the reinstall options."""
from __future__ import annotations

import pytest
import requests

from apps.installs.models import Device, DeviceState, Install, InstallKind, InstallState
from apps.lab import machines
from tests.api.clients import customer, packet_manager, wait_until
from tests.console.conftest import CUSTOMER_WEB_ADDRESS

packet = pytest.importorskip("packet")
pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres]

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl rescue@laptop\n"


def _state(manager, device_id: str, *states: str, timeout: float = 120) -> object:
    device = wait_until(lambda: manager.get_device(device_id), lambda d: d.state in states, timeout=timeout)
    return device


def _active_device(site, manager, project, hostname: str = "web1", **extra):
    device = manager.create_device(project.id, hostname, site.plan.slug, facility=site.facility.code,
                                   operating_system=extra.pop("operating_system", site.os.slug), **extra)
    device = _state(manager, device.id, "active", "failed")
    assert device.state == "active", Device.objects.get(pk=device.id).failure_reason
    return device


def _runs(server_id) -> list[machines.MachineRun]:
    return [run for run in machines.runs if run.server_id == str(server_id)]


@pytest.fixture
def client(lab_site, live_server, monkeypatch):
    _, token = customer()
    manager = packet_manager(live_server.url, token, monkeypatch)
    project = manager.create_project("hands-on")
    manager.create_ssh_key("laptop", KEY)
    api = requests.Session()
    api.headers["X-Auth-Token"] = token
    return {"manager": manager, "project": project, "site": lab_site, "api": api, "url": f"{live_server.url}/metal/v1"}


def test_a_locked_device_refuses_delete_reinstall_and_rescue_until_unlocked(client) -> None:
    manager, site = client["manager"], client["site"]
    device = _active_device(site, manager, client["project"], locked=True)
    assert device.locked is True
    for call, message in ((device.delete, "Cannot delete a locked item"), (device.reinstall, "Cannot reinstall a locked item"),
                          (device.rescue, "Cannot rescue a locked item")):
        with pytest.raises(packet.baseapi.ResponseError, match="422") as refused:
            call()
        assert message in str(refused.value)
    assert manager.get_device(device.id).state == "active"
    assert Install.objects.filter(device_id=device.id).count() == 1  # nothing was started
    device.locked = False
    device.update()
    device.delete()
    wait_until(lambda: Device.objects.get(pk=device.id).state, lambda s: s == "deleted", timeout=120)


def test_rescue_boots_in_memory_with_the_keys_and_addresses_and_a_reboot_returns_from_the_disk(client) -> None:
    manager, site = client["manager"], client["site"]
    device = _active_device(site, manager, client["project"])
    server_id = Device.objects.get(pk=device.id).server_id
    disk = machines.light_disk(server_id)
    disk["data"] = "the customer's files"
    installed = dict(disk)

    device.rescue()
    assert manager.get_device(device.id).state == "rescue"  # at once, as the real service shows it
    wait_until(lambda: Install.objects.get(device_id=device.id, kind=InstallKind.RESCUE).state,
               lambda s: s in (InstallState.SUCCEEDED, InstallState.FAILED), timeout=90)
    rescue_run = Install.objects.get(device_id=device.id, kind=InstallKind.RESCUE)
    assert rescue_run.state == InstallState.SUCCEEDED, rescue_run.failure_reason
    assert manager.get_device(device.id).state == "rescue"
    booted = [run for run in _runs(server_id) if run.mode == "rescue"]
    assert len(booted) == 1 and booted[0].rescue is not None
    assert KEY in booted[0].rescue["ssh_keys"]
    addresses = {f"{ip['address']}/{ip['cidr']}" for ip in manager.get_device(device.id).ip_addresses}
    assert set(booted[0].rescue["addresses"]) == addresses
    assert machines.light_disk(server_id) == installed  # the disk is untouched

    # Reinstall is allowed from rescue, delete too; a reboot boots the disk's system again.
    device.reboot()
    _state(manager, device.id, "active", timeout=60)
    power = list(Device.objects.get(pk=device.id).server.power_events.order_by("-pk").values_list("action", flat=True)[:3])
    assert power[::-1] == ["boot_disk", "off", "on"]
    assert machines.light_disk(server_id) == installed


def test_rescue_on_a_silent_bmc_ends_failed_with_nothing_half_done(client, settings) -> None:
    manager, site = client["manager"], client["site"]
    settings.INSTALL_STEP_MAX_ATTEMPTS, settings.INSTALL_RETRY_PAUSE = 1, 0
    device = _active_device(site, manager, client["project"])
    server = Device.objects.get(pk=device.id).server
    site.ipmi.set_mode(site.bmc_ports[server.pk], "silent")
    device.rescue()
    _state(manager, device.id, "failed", timeout=120)
    run = Install.objects.get(device_id=device.id, kind=InstallKind.RESCUE)
    assert run.state == InstallState.FAILED and "netboot" in run.failure_reason
    assert "BMC" in Device.objects.get(pk=device.id).failure_reason
    server.refresh_from_db()
    assert server.state == "maintenance"
    assert not [run for run in _runs(server.pk) if run.mode == "rescue"]


def test_custom_ipxe_runs_the_customers_chained_script_and_always_pxe_runs_it_on_every_boot(client, customer_web) -> None:
    manager, site = client["manager"], client["site"]
    customer_web.pages["/boot.ipxe"] = f"#!ipxe\necho my own boot\nchain {customer_web.url('/stage2.ipxe')}\n".encode()
    customer_web.pages["/stage2.ipxe"] = b"#!ipxe\necho stage two\nsanboot --no-describe --drive 0x80\n"
    always = _active_device(site, manager, client["project"], "pxe1", ipxe_script_url=customer_web.url("/boot.ipxe"),
                            always_pxe=True)
    once = _active_device(site, manager, client["project"], "pxe2", ipxe_script_url=customer_web.url("/boot.ipxe"))
    assert (always.always_pxe, always.operating_system.slug, always.ipxe_script_url) == \
        (True, "custom_ipxe", customer_web.url("/boot.ipxe"))
    assert once.always_pxe is False
    # The platform fetched the script once per install; each machine then ran it and chained stage two.
    assert customer_web.hits.count("/boot.ipxe") == 2 and customer_web.hits.count("/stage2.ipxe") == 2
    for device in (always, once):
        server_id = Device.objects.get(pk=device.id).server_id
        runs = _runs(server_id)
        assert runs[-1].mode == "custom-ipxe" and "echo my own boot" in runs[-1].scripts[0], runs[-1]
        assert "echo stage two" in runs[-1].scripts[-1]
        run = Install.objects.get(device_id=device.id)
        assert run.kind == InstallKind.CUSTOM_IPXE and "echo my own boot" in run.ipxe_script

    always.reboot()
    once.reboot()
    wait_until(lambda: customer_web.hits.count("/stage2.ipxe"), lambda n: n >= 3, timeout=60)
    for device, expected in ((always, 2), (once, 1)):
        server_id = Device.objects.get(pk=device.id).server_id
        wait_until(lambda s=server_id: len(_runs(s)), lambda n: n >= 2, timeout=60)
        assert sum(run.mode == "custom-ipxe" for run in _runs(server_id)) == expected
    assert customer_web.hits.count("/stage2.ipxe") == 3  # only the always_pxe machine ran it again


@pytest.mark.parametrize(("page", "reason"), [
    (None, "did not answer"), (b"#!ipxe\n" + b"x" * 70000, "larger than"), (b"#!/bin/sh\necho not ipxe\n", "not an iPXE script"),
])
def test_a_custom_ipxe_url_that_fails_fails_the_install_with_that_reason(client, customer_web, settings, page, reason) -> None:
    manager, site = client["manager"], client["site"]
    settings.CUSTOM_IPXE_TIMEOUT = 1.0
    if page is None:
        import socket

        with socket.socket() as sock:  # a port nobody listens on: nothing answers
            sock.bind((CUSTOMER_WEB_ADDRESS, 0))
            url = f"http://{CUSTOMER_WEB_ADDRESS}:{sock.getsockname()[1]}/boot.ipxe"
        reason = "could not be fetched"
    else:
        customer_web.pages["/boot.ipxe"] = page
        url = customer_web.url("/boot.ipxe")
    device = manager.create_device(client["project"].id, "bad", site.plan.slug, facility=site.facility.code, ipxe_script_url=url)
    failed = _state(manager, device.id, "failed", "active", timeout=90)
    assert failed.state == "failed"
    run = Install.objects.get(device_id=device.id)
    assert reason in run.failure_reason and run.failure_reason.startswith("custom_ipxe:"), run.failure_reason
    assert not _runs(run.server_id)  # the machine was never powered on


def test_custom_ipxe_without_a_script_is_refused(client) -> None:
    response = client["api"].post(f"{client['url']}/projects/{client['project'].id}/devices", json={
        "hostname": "x", "plan": client["site"].plan.slug, "facility": client["site"].facility.code, "operating_system": "custom_ipxe"})
    assert response.status_code == 422 and "ipxe_script_url" in response.text


@pytest.mark.parametrize(("options", "kept"), [({}, False), ({"preserve_data": True}, True), ({"deprovision_fast": True}, True)])
def test_reinstall_options_keep_or_wipe_the_data_partitions(client, options, kept) -> None:
    manager, site = client["manager"], client["site"]
    device = _active_device(site, manager, client["project"])
    server_id = Device.objects.get(pk=device.id).server_id
    machines.light_disk(server_id)["data"] = "marker"
    response = client["api"].post(f"{client['url']}/devices/{device.id}/actions", json={"type": "reinstall", **options})
    assert response.status_code == 202, response.text
    _state(manager, device.id, "active", timeout=150)
    run = Install.objects.filter(device_id=device.id, kind=InstallKind.REINSTALL).get()
    assert (run.preserve_data, run.deprovision_fast) == (options.get("preserve_data", False), options.get("deprovision_fast", False))
    assert (machines.light_disk(server_id).get("data") == "marker") is kept


def test_reinstall_into_another_operating_system_through_packet_python(client) -> None:
    from tests.installs.factories import OperatingSystemFactory

    manager, site = client["manager"], client["site"]
    other = OperatingSystemFactory(plans=[site.plan], image_url=site.os.image_url, image_sha256=site.os.image_sha256,
                                   image_size=site.os.image_size)
    device = _active_device(site, manager, client["project"])
    device.reinstall(operating_system=other.slug)
    assert manager.get_device(device.id).state == DeviceState.REINSTALLING
    device = _state(manager, device.id, "active", timeout=150)
    assert device.operating_system.slug == other.slug
