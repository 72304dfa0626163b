"""The DHCP configuration is generated from the model and a real dnsmasq accepts it."""
from __future__ import annotations

import os
import shutil

import pytest

from apps.installs import dhcp
from apps.ipam.services import server_addresses_assign

HAVE_DNSMASQ = shutil.which("dnsmasq") is not None or os.path.exists("/usr/sbin/dnsmasq")
pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not HAVE_DNSMASQ, reason="dnsmasq not installed (apt-get install dnsmasq-base)")]


def test_a_reservation_per_nic_of_each_addressed_server_and_dnsmasq_accepts_it(rack, tmp_path) -> None:
    addressed, bare = rack["servers"][0], rack["servers"][1]
    assigned = server_addresses_assign(server=addressed, device_label="web1")
    public4 = next(a for a in assigned if a.family == 4 and a.public)
    path = dhcp.dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url="http://127.0.0.1:8000/ipxe/boot.ipxe", reload_command="")
    text = path.read_text()
    nic = addressed.interfaces.get()
    assert f"dhcp-host={nic.mac},set:h{nic.mac.replace(':', '')},{public4.address},{addressed.serial}-eth0" in text
    assert f"option:router,{public4.gateway}" in text
    assert "dhcp-boot=tag:ipxe,http://127.0.0.1:8000/ipxe/boot.ipxe" in text
    assert bare.interfaces.get().mac not in text
    assert "syntax check OK" in dhcp.dnsmasq_check(path)


def test_a_refused_configuration_never_replaces_the_one_in_service(rack, tmp_path) -> None:
    server_addresses_assign(server=rack["servers"][0], device_label="web1")
    path = tmp_path / "dnsmasq.conf"
    dhcp.dhcp_config_write(path=path, boot_url="http://127.0.0.1:8000/ipxe/boot.ipxe", reload_command="")
    good = path.read_text()
    with pytest.raises(dhcp.DHCPConfigError, match="dnsmasq refused"):
        dhcp.dhcp_config_write(path=path, boot_url="http://x/ y\nbogus-option=1", reload_command="")
    assert path.read_text() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dnsmasq.conf"]


def test_the_reload_command_runs_and_its_failure_is_reported(rack, tmp_path) -> None:
    marker = tmp_path / "reloaded"
    dhcp.dhcp_config_write(path=tmp_path / "a.conf", boot_url="http://127.0.0.1/ipxe/boot.ipxe", reload_command=f"touch {marker}")
    assert marker.exists()
    with pytest.raises(dhcp.DHCPConfigError, match="reload command"):
        dhcp.dhcp_config_write(path=tmp_path / "a.conf", boot_url="http://127.0.0.1/ipxe/boot.ipxe", reload_command="false")
