"""packet-python 1.44.3, with its default arguments, runs a customer's whole lifecycle against a live
Metalyard whose lab installs the devices: catalog and capacity, a project with no organization given,
an SSH key, a /30 reservation, devices by metro and by facility list, update, power, reboot, reinstall,
device IPs, assign and unassign an address of the reservation, events, and every delete."""
from __future__ import annotations

import pytest

from apps.installs.models import Device
from apps.ipam.models import Block
from tests.api.clients import customer, packet_manager, wait_until

packet = pytest.importorskip("packet")
pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop\n"


def test_packet_python_lifecycle(lab_site, live_server, monkeypatch) -> None:
    site = lab_site
    _, token = customer()
    manager = packet_manager(live_server.url, token, monkeypatch)
    metro, facility = site.facility.metro.code, site.facility.code

    # Catalog and capacity.
    assert manager.get_user()["default_organization_id"]
    assert site.plan.slug in [p.slug for p in manager.list_plans()]
    assert site.os.slug in [o.slug for o in manager.list_operating_systems()]
    assert facility in [f.code for f in manager.list_facilities()]
    assert metro in [m.code for m in manager.list_metros()]
    assert manager.get_capacity()[facility][site.plan.slug]["level"] == "limited"
    assert manager.validate_metro_capacity([(metro.upper(), site.plan.slug, 2)]) is True

    # A project with no organization given: the user's default organization.
    project = manager.create_project("lifecycle")
    assert [p.id for p in manager.list_projects({"name": "lifecycle"})] == [project.id]
    project.name = "lifecycle-2"
    project.update()
    key = manager.create_ssh_key("laptop", PUBLIC_KEY)
    assert manager.get_ssh_key(key.id).key == PUBLIC_KEY  # exactly as sent

    # A /30 with details and tags (the client puts a double slash in this path and sends comments: null).
    reservation = manager.reserve_ip_address(project.id, "public_ipv4", 4, metro=metro, details="edge", tags=["lb"])
    assert (reservation.cidr, reservation.details, reservation.tags) == (30, "edge", ["lb"])
    assert reservation.metro.code == metro

    # Devices with the client's defaults (tags={}, empty key lists …): by metro, and by facility list.
    by_metro = manager.create_device(project.id, "web1", site.plan.slug, metro=metro.upper(), operating_system=site.os.slug)
    by_list = manager.create_device(project.id, "web2.example.com", site.plan.slug, facility=["nowhere1", facility],
                                    operating_system=site.os.slug)
    assert by_metro.project["id"] == project.id
    for device in (by_metro, by_list):
        device = wait_until(lambda d=device: manager.get_device(d.id), lambda d: d.state in ("active", "failed"), timeout=150)
        assert device.state == "active", Device.objects.get(pk=device.id).failure_reason
        assert device.facility["code"] == facility  # where it landed, also for the metro order
        assert {a["assigned_to"]["href"] for a in device.ip_addresses} == {device.href}
        assert PUBLIC_KEY in Device.objects.get(pk=device.id).ssh_keys  # the owner's personal key, by default

    # Update, power, reboot, reinstall.
    device = manager.get_device(by_metro.id)
    device.hostname, device.tags = "web1-renamed", ["front"]
    device.update()
    assert (manager.get_device(device.id).hostname, manager.get_device(device.id).tags) == ("web1-renamed", ["front"])
    device.power_off()
    wait_until(lambda: manager.get_device(device.id).state, lambda s: s == "inactive", timeout=60)
    device.power_on()
    wait_until(lambda: manager.get_device(device.id).state, lambda s: s == "active", timeout=60)
    device.reboot()
    wait_until(lambda: manager.get_device(device.id).state, lambda s: s == "active", timeout=60)
    device.reinstall()
    wait_until(lambda: manager.get_device(device.id).state, lambda s: s == "active", timeout=150)

    # Device IPs; an address of the reservation assigned and unassigned.
    before = {ip.address for ip in device.ips()}
    assigned = manager.create_device_ip(device.id, f"{reservation.network.rsplit('.', 1)[0]}.{int(reservation.network.rsplit('.', 1)[1]) + 1}/32")
    assert assigned.assigned_to["href"] == device.href
    assert {ip.address for ip in device.ips()} == before | {assigned.address}
    manager.get_ip(assigned.id).delete()
    assert {ip.address for ip in device.ips()} == before

    # Events read as sentences.
    events = manager.list_device_events(device.id)
    assert any("web1" in e.interpolated for e in events) and all(e.interpolated for e in events)
    assert manager.list_project_events(project.id)

    # Everything goes away again; the project with its history.
    manager.get_device(by_list.id).delete()
    device.delete()
    for gone in (by_list.id, device.id):
        wait_until(lambda g=gone: Device.objects.get(pk=g).state, lambda s: s == "deleted", timeout=120)
    manager.get_ip(reservation.id).delete()
    assert Block.objects.filter(project_id=project.id, released_at__isnull=True).count() == 0
    key.delete()
    with pytest.raises(packet.baseapi.ResponseError, match="404"):
        manager.get_ssh_key(key.id)
    manager.get_project(project.id).delete()  # after devices and addresses have come and gone; the history stays
    with pytest.raises(packet.baseapi.ResponseError, match="404"):
        manager.get_project(project.id)
    assert Device.objects.filter(project_id=project.id).count() == 2
