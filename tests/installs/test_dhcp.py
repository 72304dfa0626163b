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


HAVE_KEA = shutil.which("kea-dhcp4") is not None or os.path.exists("/usr/sbin/kea-dhcp4")
needs_kea = pytest.mark.skipif(not HAVE_KEA, reason="Kea not installed (apt-get install kea-dhcp4-server)")


@needs_kea
def test_the_same_reservations_for_kea_which_accepts_them(rack, tmp_path) -> None:
    import json

    addressed = rack["servers"][0]
    other = rack["servers"][2]
    assigned = server_addresses_assign(server=addressed, device_label="web1")
    server_addresses_assign(server=other, device_label="web2")
    public4 = next(a for a in assigned if a.family == 4 and a.public)
    path = dhcp.dhcp_config_write(path=tmp_path / "kea-dhcp4.conf", boot_url="http://127.0.0.1:8000/ipxe/boot.ipxe",
                                  reload_command="", server="kea")
    text = path.read_text()
    config = json.loads(text.split("\n", 1)[1])["Dhcp4"]  # after the comment line, which Kea allows
    nic = addressed.interfaces.get()
    subnet = next(s for s in config["subnet4"] if s["subnet"] == str(public4.network))
    assert subnet["reservations"] == [{"hw-address": nic.mac, "ip-address": str(public4.address), "hostname": f"{addressed.serial}-eth0"}]
    assert subnet["option-data"] == [{"name": "routers", "data": str(public4.gateway)}]
    assert len(config["subnet4"]) == 2 and len({s["id"] for s in config["subnet4"]}) == 2
    assert config["client-classes"][0]["boot-file-name"] == "http://127.0.0.1:8000/ipxe/boot.ipxe"
    assert rack["servers"][1].interfaces.get().mac not in text
    dhcp.kea_check(path)  # raises with Kea's complaint if refused


@needs_kea
def test_a_configuration_kea_refuses_never_replaces_the_one_in_service(rack, tmp_path, monkeypatch) -> None:
    server_addresses_assign(server=rack["servers"][0], device_label="web1")
    path = tmp_path / "kea-dhcp4.conf"
    dhcp.dhcp_config_write(path=path, boot_url="http://127.0.0.1:8000/ipxe/boot.ipxe", reload_command="", server="kea")
    good = path.read_text()
    render, check = dhcp.SERVERS["kea"]
    # A renderer gone wrong (a keyword Kea does not know): Kea's own check must stop it.
    monkeypatch.setitem(dhcp.SERVERS, "kea", (lambda **kw: render(**kw).replace('"subnet4"', '"subnets4"'), check))
    with pytest.raises(dhcp.DHCPConfigError, match="kea-dhcp4 refused"):
        dhcp.dhcp_config_write(path=path, boot_url="http://127.0.0.1:8000/ipxe/boot.ipxe", reload_command="", server="kea")
    assert path.read_text() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kea-dhcp4.conf"]


def test_an_unknown_server_is_a_clear_error(rack, tmp_path) -> None:
    with pytest.raises(dhcp.DHCPConfigError, match="unknown DHCP server 'isc-dhcpd': choose one of dnsmasq, kea"):
        dhcp.dhcp_config_write(path=tmp_path / "x.conf", boot_url="http://127.0.0.1/ipxe/boot.ipxe", reload_command="",
                               server="isc-dhcpd")
    assert not (tmp_path / "x.conf").exists()


def test_every_nic_gets_its_provisioning_address_beside_its_public_one(rack, tmp_path) -> None:
    from apps.installs.models import ProvisioningReservation
    from apps.installs.provisioning import provisioning_network_set

    addressed, bare = rack["servers"][0], rack["servers"][1]
    public4 = next(a for a in server_addresses_assign(server=addressed, device_label="web1") if a.family == 4 and a.public)
    provisioning_network_set(facility=rack["facility"], network="198.18.0.0/24", gateway="198.18.0.1")
    path = dhcp.dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url="http://198.18.0.1/ipxe/boot.ipxe", reload_command="")
    text = path.read_text()
    reserved = {r.interface.server_id: r.address for r in ProvisioningReservation.objects.select_related("interface")}
    # Every NIC of the facility, addressed or not; lowest free first, never the gateway.
    assert sorted(reserved.values()) == ["198.18.0.2", "198.18.0.3", "198.18.0.4"]
    for server in (addressed, bare):
        mac = server.interfaces.get().mac
        assert f"dhcp-host={mac},set:p{mac.replace(':', '')},{reserved[server.pk]},{server.serial}-eth0-prov" in text
    assert f"dhcp-host={addressed.interfaces.get().mac},set:h{addressed.interfaces.get().mac.replace(':', '')},{public4.address}" in text
    assert "dhcp-range=set:net" in text and ",198.18.0.0,static,255.255.255.0," in text
    assert "syntax check OK" in dhcp.dnsmasq_check(path)
    # Written again: the same addresses (a reservation is for the NIC's life).
    dhcp.dhcp_config_write(path=tmp_path / "dnsmasq.conf", boot_url="http://198.18.0.1/ipxe/boot.ipxe", reload_command="")
    assert {r.interface.server_id: r.address for r in ProvisioningReservation.objects.select_related("interface")} == reserved
