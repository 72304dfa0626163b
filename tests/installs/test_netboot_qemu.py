"""The real netboot: a QEMU machine (software emulation) behind a lab IPMI BMC. The platform powers
it on; its firmware's iPXE fetches the per-MAC script from the platform, boots the kernel and the
busybox installer this test builds, which reads its metadata, writes the operating system image (a
bootable disk this test builds: SYSLINUX, the kernel and an init that calls home) to the virtual
disk, verifies the checksum, posts events and phones home. The platform then sets the next boot to
the disk and power-cycles the machine: its firmware boots the installed system, which phones home,
and only then is the device active. Then the disk's bytes, the device's state and its timeline are
checked. Target: order → active in 60 s or less on 2 cores."""
from __future__ import annotations

import shutil
import time

import pytest

from apps.installs.models import DeviceState, InstallState
from apps.installs.services import orders
from apps.lab import machines
from tests.installs.lab_site import wait_for

TARGET_SECONDS = 60

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.postgres,  # a live server answering the machine from other threads (see test_workflow.py)
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None or shutil.which("cpio") is None,
                       reason="needs qemu-system-x86, ipxe-qemu, busybox-static and cpio (see docs/installs.md)"),
]


@pytest.fixture
def netboot_assets(settings):
    from apps.installs.installer.initramfs import build_assets
    from apps.installs.installer.kernel import NetbootToolError
    from apps.lab.netboot.osimage import build_os_image

    try:
        assets = build_assets(settings.NETBOOT_ASSETS_DIR)
        assets["os"] = build_os_image(settings.NETBOOT_ASSETS_DIR / "labos.img")
    except NetbootToolError as exc:
        pytest.skip(f"cannot build the installer or the OS image: {exc}")
    return assets


def test_a_qemu_machine_netboots_installs_and_goes_active(lab_site, provisioning_server, netboot_assets, tmp_path) -> None:
    from tests.factories import ProjectFactory

    port = provisioning_server.port
    image, digest, size = netboot_assets["os"]
    lab_site.os.image_url, lab_site.os.image_sha256, lab_site.os.image_size = f"/netboot/assets/{image.name}", digest, size
    lab_site.os.save()
    disks = {}
    for server in lab_site.servers:
        disk = tmp_path / f"disk-{server.serial}.img"
        with open(disk, "wb") as fh:
            fh.truncate(64 * 1024 * 1024)
        disks[server.pk] = disk
        # Inside the guest the host's 127.0.0.1 is 10.0.2.2.
        machines.qemu_register(server.pk, workdir=tmp_path / "qemu", disk=disk, base_url=f"http://10.0.2.2:{port}")
    try:
        started = time.monotonic()
        device = orders.device_create(project=ProjectFactory(), hostname="qemu1", plan=lab_site.plan, facility=lab_site.facility,
                                        operating_system=lab_site.os, ssh_keys=["ssh-ed25519 AAAA test"])

        def done():
            device.refresh_from_db()
            return device.state in (DeviceState.ACTIVE, DeviceState.FAILED)

        finished = wait_for(done, timeout=180, interval=0.25)
        elapsed = time.monotonic() - started
        machine = machines.qemu_machine(device.server_id) if device.server_id else None
        console = machine.log_text()[-3000:] if machine else ""
        assert finished and device.state == DeviceState.ACTIVE, f"{device.state} {device.failure_reason}\n{console}"
        print(f"\nQEMU netboot: order → active in {elapsed:.1f} s")
        assert elapsed <= TARGET_SECONDS, f"order → active took {elapsed:.1f} s (target {TARGET_SECONDS} s)"

        install = device.installs.get()
        assert install.state == InstallState.SUCCEEDED
        types = list(install.events.values_list("type", flat=True))
        assert types == ["provisioning.101", "provisioning.102", "provisioning.103", "provisioning.104.01", "provisioning.104",
                         "provisioning.105", "provisioning.106", "provisioning.107", "provisioning.108", "provisioning.109",
                         "provisioning.110"]
        machine_events = install.events.filter(source="machine").values_list("type", flat=True)
        assert "provisioning.106" in machine_events  # posted by the installer in the guest, after its checksum check
        assert "provisioning.110" in machine_events  # the installed system's own call, from its first boot
        with open(disks[device.server_id], "rb") as fh:
            assert fh.read(size) == image.read_bytes()
        assert machine is not None
        serial_log = machine.log_text()  # both boots: the machine's serial console is one file
        assert "installer: mode install" in serial_log
        assert "first boot of the installed system" in serial_log and "phoned home" in serial_log
        assert machine.boot == "disk"
    finally:
        for server in lab_site.servers:
            machines.qemu_unregister(server.pk)
