"""Reinstall options on a QEMU machine (a namespace's network, the platform's installer, as
tests/installs/test_netboot_qemu.py): a marker written on the data area of the virtual disk (after the root,
i.e. the image) survives a reinstall with preserve_data, and is gone after a plain reinstall (the full wipe)."""
from __future__ import annotations

import pytest

from apps.installs.models import DeviceState, InstallKind
from apps.installs.services import orders
from apps.lab import machines
from tests.factories import ProjectFactory
from tests.installs.lab_site import ProvisioningServer, wait_for
from tests.installs.test_netboot_qemu import IN_CI, NETWORK, PLATFORM, WHY_NOT, netboot_assets, segment, start_dhcp  # noqa: F401

pytestmark = [pytest.mark.timeout(500), pytest.mark.postgres,
              pytest.mark.skipif(WHY_NOT is not None and not IN_CI, reason=WHY_NOT or "")]
MARKER = b"metalyard data partition marker"
DATA_OFFSET = 40 * 1024 * 1024  # well after the lab OS image, well before the installer's settings MiB


def _marker(disk) -> bytes:
    with open(disk, "rb") as fh:
        fh.seek(DATA_OFFSET)
        return fh.read(len(MARKER))


def _write_marker(disk) -> None:
    with open(disk, "r+b") as fh:
        fh.seek(DATA_OFFSET)
        fh.write(MARKER)


def test_preserve_data_keeps_the_data_partition_and_a_plain_reinstall_wipes_it(
        lab_site, netboot_assets, segment, settings, tmp_path) -> None:  # noqa: F811
    from apps.installs.dhcp import dhcp_config_write
    from apps.installs.provisioning import provisioning_network_set

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, PLATFORM]
    server = ProvisioningServer(sock=segment.provisioning.listening_socket(PLATFORM, 80))
    image, digest, size = netboot_assets["os"]
    assert size < DATA_OFFSET
    lab_site.os.image_url, lab_site.os.image_sha256, lab_site.os.image_size = f"/netboot/assets/{image.name}", digest, size
    lab_site.os.save()
    provisioning_network_set(facility=lab_site.facility, network=NETWORK, gateway=PLATFORM)
    config = dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url=f"http://{PLATFORM}/ipxe/boot.ipxe", reload_command="")
    dhcp = start_dhcp(segment, config, tmp_path)
    disks = {}
    for each in lab_site.servers:
        disks[each.pk] = tmp_path / f"disk-{each.serial}.img"
        with open(disks[each.pk], "wb") as fh:
            fh.truncate(64 * 1024 * 1024)
        machines.qemu_register(each.pk, workdir=tmp_path / "qemu", disk=disks[each.pk], base_url=f"http://{PLATFORM}",
                               netns=segment.provisioning.name, tap=segment.tap)
    try:
        device = orders.device_create(project=ProjectFactory(), hostname="keep", plan=lab_site.plan, facility=lab_site.facility,
                                      operating_system=lab_site.os)

        def settled() -> bool:
            device.refresh_from_db()
            return device.state in (DeviceState.ACTIVE, DeviceState.FAILED)

        assert wait_for(settled, timeout=180) and device.state == DeviceState.ACTIVE, device.failure_reason
        disk = disks[device.server_id]
        _write_marker(disk)

        orders.device_reinstall(device=device, preserve_data=True, reason="keep my data")
        assert wait_for(settled, timeout=180) and device.state == DeviceState.ACTIVE, device.failure_reason
        assert _marker(disk) == MARKER
        with open(disk, "rb") as fh:
            assert fh.read(size) == image.read_bytes()  # the root was written again
        assert "preserve_data: the data partitions are kept" in machines.qemu_machine(device.server_id).log_text()

        orders.device_reinstall(device=device, reason="start over")
        assert wait_for(settled, timeout=180) and device.state == DeviceState.ACTIVE, device.failure_reason
        assert _marker(disk) == bytes(len(MARKER))  # the full wipe zeroed it
        runs = list(device.installs.filter(kind=InstallKind.REINSTALL).order_by("created_at").values_list("preserve_data", "state"))
        assert runs == [(True, "succeeded"), (False, "succeeded")]
    finally:
        for each in lab_site.servers:
            machines.qemu_unregister(each.pk)
        if dhcp.poll() is None:
            dhcp.terminate()
            dhcp.wait(timeout=10)
        server.stop()
