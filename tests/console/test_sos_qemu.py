"""The real path end to end: Debian's OpenSSH client → the SOS listener (its own process) → pyghmi's SOL client
→ the lab's IPMI BMC → the serial port of a QEMU machine that the platform installed (netboot on a real network
in a namespace, as tests/installs/test_netboot_qemu.py). The console shows what the machine prints (iPXE and the
installed system booting, after a reboot through the API's action), and a typed line comes back as the
machine's terminal echoes it. Then rescue: the rescue system comes up on the same console with the device's key,
runs what is typed in its shell, and the disk's bytes are unchanged after it and after the reboot out of it."""
from __future__ import annotations

import hashlib
import time

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs import actions
from apps.installs.models import DeviceState
from apps.installs.services import orders
from apps.lab import machines
from apps.lab.netboot.qemu import serial_socket_path
from tests.console.sos_process import SosProcess, SshClient, make_key
from tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from tests.installs.lab_site import ProvisioningServer, wait_for
from tests.installs.test_netboot_qemu import IN_CI, NETWORK, PLATFORM, WHY_NOT, netboot_assets, segment, start_dhcp  # noqa: F401

pytestmark = [pytest.mark.timeout(400), pytest.mark.postgres,
              pytest.mark.skipif(WHY_NOT is not None and not IN_CI, reason=WHY_NOT or "")]


def test_openssh_types_on_a_qemu_machine_through_sos_sol_and_the_lab_bmc(lab_site, netboot_assets, segment, settings,  # noqa: F811
                                                                       tmp_path) -> None:
    from apps.installs.dhcp import dhcp_config_write
    from apps.installs.provisioning import provisioning_network_set

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, PLATFORM]
    server = ProvisioningServer(sock=segment.provisioning.listening_socket(PLATFORM, 80))
    image, digest, size = netboot_assets["os"]
    lab_site.os.image_url, lab_site.os.image_sha256, lab_site.os.image_size = f"/netboot/assets/{image.name}", digest, size
    lab_site.os.save()
    provisioning_network_set(facility=lab_site.facility, network=NETWORK, gateway=PLATFORM)
    config = dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url=f"http://{PLATFORM}/ipxe/boot.ipxe", reload_command="")
    dhcp = start_dhcp(segment, config, tmp_path)
    for each in lab_site.servers:
        disk = tmp_path / f"disk-{each.serial}.img"
        with open(disk, "wb") as fh:
            fh.truncate(64 * 1024 * 1024)
        machines.qemu_register(each.pk, workdir=tmp_path / "qemu", disk=disk, base_url=f"http://{PLATFORM}",
                               netns=segment.provisioning.name, tap=segment.tap)
        # The BMC's serial port is the QEMU machine's (it reconnects at each boot: each is a new QEMU process).
        socket_path = serial_socket_path(each.interfaces.get().mac, tmp_path / "qemu")
        lab_site.ipmi.set_state(lab_site.bmc_ports[each.pk], serial_socket=str(socket_path))
    sos = SosProcess(tmp_path)
    client = None
    try:
        organization = OrganizationFactory()
        owner = UserFactory()
        accounts.membership_set(user=owner, organization=organization, role=Role.OWNER)
        key, public = make_key(tmp_path, "owner")
        accounts.ssh_key_create(label="laptop", key=public, owner=owner)
        device = orders.device_create(project=ProjectFactory(organization=organization), hostname="qemu-sos", plan=lab_site.plan,
                                      facility=lab_site.facility, operating_system=lab_site.os)
        assert wait_for(lambda: device.refresh_from_db() or device.state in (DeviceState.ACTIVE, DeviceState.FAILED), timeout=180)
        assert device.state == DeviceState.ACTIVE, device.failure_reason

        client = SshClient(key=key, port=sos.port, user=str(device.pk))
        assert client.wait_for(b"you are typing", stderr=True, timeout=30), bytes(client.err)
        started = time.monotonic()
        client.type(b"echo-me-please\r")
        assert client.wait_for(b"echo-me-please", timeout=30), bytes(client.out)  # the guest's terminal echoes it
        print(f"\nkeystrokes → echo through SOS, SOL and QEMU's serial port: {time.monotonic() - started:.2f} s")

        # A reboot through the registry (as the API's action): the console shows the machine booting again.
        before_reboot = len(client.out)
        actions.perform("reboot", device=device, actor=owner)
        # The proof is the installed system's boot line after the reboot. Not the network boot's banner: each boot is a
        # new QEMU process whose serial socket the lab BMC reconnects to, and iPXE may have printed before it has
        # (the clean-clone CI run of 2026-12-03 showed DHCP and the boot line without the banner).
        assert client.wait_for(b"first boot of the installed system", timeout=120, since=before_reboot), bytes(client.out)[-2000:]
        wait_for(lambda: device.refresh_from_db() or device.state == DeviceState.ACTIVE, timeout=60)

        # Rescue: the installer's initramfs in rescue mode, in memory, with the device's keys, a shell on the
        # console (so on this SOS session); the disk's bytes are the same after it.
        disk = tmp_path / f"disk-{device.server.serial}.img"
        before = hashlib.sha256(disk.read_bytes()).hexdigest()
        before_rescue = len(client.out)
        actions.perform("rescue", device=device, actor=owner)
        assert client.wait_for(b"rescue system ready", timeout=150, since=before_rescue), (bytes(client.out)[-3000:], bytes(client.err))
        assert wait_for(lambda: device.refresh_from_db() or device.state == DeviceState.RESCUE, timeout=10)
        assert wait_for(lambda: device.installs.filter(kind="rescue", state="succeeded").exists(), timeout=30)
        time.sleep(1)  # the shell's prompt
        client.type(b"echo rescue-$((6*7)); cat /root/.ssh/authorized_keys\r")
        assert client.wait_for(b"rescue-42", timeout=30), bytes(client.out)[-2000:]
        assert client.wait_for(public.split()[1].encode(), timeout=10), bytes(client.out)[-2000:]
        assert hashlib.sha256(disk.read_bytes()).hexdigest() == before
        actions.perform("reboot", device=device, actor=owner)  # out of rescue: from the disk again
        assert wait_for(lambda: device.refresh_from_db() or device.state == DeviceState.ACTIVE, timeout=60), device.state
        booted = b"first boot of the installed system"
        assert wait_for(lambda: bytes(client.out).count(booted) >= 2, timeout=120, interval=0.5), bytes(client.out)[-2000:]
        assert hashlib.sha256(disk.read_bytes()).hexdigest() == before
        client.type(b"~.")
        assert client.wait(timeout=20) == 0
    finally:
        if client is not None:
            client.stop()
        sos.stop()
        for each in lab_site.servers:
            machines.qemu_unregister(each.pk)
        if dhcp.poll() is None:
            dhcp.terminate()
            dhcp.wait(timeout=10)
        server.stop()
