"""Custom iPXE on a QEMU machine on a real network (a namespace, as tests/installs/test_netboot_qemu.py): the
device's userdata is the customer's iPXE script; the platform checks it and chains it from its own per-MAC
script, and the machine's iPXE runs it — its `echo` is on the serial console and it chains the customer's second
stage, served by this test on the machine's network. With always_pxe, a reboot runs the customer's script again."""
from __future__ import annotations

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs import actions
from apps.installs.custom_ipxe import custom_ipxe_operating_system
from apps.installs.models import DeviceState, InstallKind
from apps.installs.services import orders
from apps.lab import machines
from tests.console.conftest import CustomerWeb
from tests.factories import ProjectFactory, UserFactory
from tests.installs.lab_site import ProvisioningServer, wait_for
from tests.installs.test_netboot_qemu import IN_CI, NETWORK, PLATFORM, WHY_NOT, segment, start_dhcp  # noqa: F401

pytestmark = [pytest.mark.timeout(400), pytest.mark.postgres,
              pytest.mark.skipif(WHY_NOT is not None and not IN_CI, reason=WHY_NOT or "")]


def test_a_qemu_machine_runs_the_customers_chained_ipxe_script_on_every_boot_with_always_pxe(
        lab_site, segment, settings, tmp_path) -> None:  # noqa: F811
    from apps.installs.dhcp import dhcp_config_write
    from apps.installs.provisioning import provisioning_network_set

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, PLATFORM]
    server = ProvisioningServer(sock=segment.provisioning.listening_socket(PLATFORM, 80))
    customer = CustomerWeb(sock=segment.provisioning.listening_socket(PLATFORM, 8081))
    customer.pages["/stage2.ipxe"] = b"#!ipxe\necho customer-stage-two-ran\nexit\n"
    provisioning_network_set(facility=lab_site.facility, network=NETWORK, gateway=PLATFORM)
    config = dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url=f"http://{PLATFORM}/ipxe/boot.ipxe", reload_command="")
    dhcp = start_dhcp(segment, config, tmp_path)
    for each in lab_site.servers:
        machines.qemu_register(each.pk, workdir=tmp_path / "qemu", disk=None, base_url=f"http://{PLATFORM}",
                               netns=segment.provisioning.name, tap=segment.tap)
    try:
        userdata = f"#!ipxe\necho customer-script-ran\nchain {customer.url('/stage2.ipxe')}\n"
        device = orders.device_create(project=ProjectFactory(), hostname="byo", plan=lab_site.plan, facility=lab_site.facility,
                                      operating_system=custom_ipxe_operating_system(), userdata=userdata, always_pxe=True)
        assert wait_for(lambda: device.refresh_from_db() or device.state in (DeviceState.ACTIVE, DeviceState.FAILED), timeout=180)
        assert device.state == DeviceState.ACTIVE, device.failure_reason
        assert device.installs.get().kind == InstallKind.CUSTOM_IPXE
        machine = machines.qemu_machine(device.server_id)
        assert wait_for(lambda: "customer-stage-two-ran" in machine.log_text(), timeout=60), machine.log_text()[-3000:]
        assert "customer-script-ran" in machine.log_text()
        assert customer.hits == ["/stage2.ipxe"]

        owner = UserFactory()
        accounts.membership_set(user=owner, project=device.project, role=Role.COLLABORATOR)
        actions.perform("reboot", device=device, actor=owner)
        assert wait_for(lambda: customer.hits.count("/stage2.ipxe") == 2, timeout=120), (customer.hits, machine.log_text()[-3000:])
        assert machines.qemu_machine(device.server_id).log_text().count("customer-script-ran") >= 2
    finally:
        for each in lab_site.servers:
            machines.qemu_unregister(each.pk)
        if dhcp.poll() is None:
            dhcp.terminate()
            dhcp.wait(timeout=10)
        customer.stop()
        server.stop()
