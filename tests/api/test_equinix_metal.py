"""The generated `equinix-metal` 0.11.0 SDK (strict pydantic models built from the specification),
with its default arguments, runs a customer's whole lifecycle against a live Metalyard whose lab
installs the devices. Every object on the way is decoded by the strict models."""
from __future__ import annotations

import ipaddress

import pytest

from apps.installs.models import Device
from tests.api.clients import customer, metal_client, wait_until

em = pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl terraform\n"


def test_equinix_metal_lifecycle(lab_site, live_server) -> None:
    site = lab_site
    _, token = customer(with_organization=False)  # a new user: their first project makes their organization
    client = metal_client(live_server.url, token)
    devices, ips, projects, keys = em.DevicesApi(client), em.IPAddressesApi(client), em.ProjectsApi(client), em.SSHKeysApi(client)
    metro, facility = site.facility.metro.code, site.facility.code

    # Catalog and capacity, decoded by the strict models; page 2 of a list too.
    assert site.plan.slug in [p.slug for p in em.PlansApi(client).find_plans().plans]
    assert site.os.slug in [o.slug for o in em.OperatingSystemsApi(client).find_operating_systems().operating_systems]
    assert metro in [m.code for m in em.MetrosApi(client).find_metros().metros]
    assert facility in [f.code for f in em.FacilitiesApi(client).find_facilities().facilities]
    capacity = em.CapacityApi(client).find_capacity_for_metro()
    assert capacity.capacity[metro][site.plan.slug].level == "limited"
    check = em.CapacityApi(client).check_capacity_for_metro(em.CapacityInput(servers=[em.ServerInfo(metro=metro, plan=site.plan.slug,
                                                                                                   quantity="1")]))
    assert check.servers[0].available is True

    project = projects.create_project(em.ProjectCreateFromRootInput(name="tf-lifecycle"))
    for name in ("tf-2", "tf-3"):
        projects.create_project(em.ProjectCreateFromRootInput(name=name))
    page_two = projects.find_projects(page=2, per_page=1)
    assert page_two.meta.current_page == 2 and page_two.meta.first.href and page_two.meta.last_page == 3
    assert [p.id for p in projects.find_projects(name="tf-lifecycle").projects] == [project.id]
    assert em.UsersApi(client).find_current_user().default_project_id
    projects.update_project(project.id, em.ProjectUpdateInput(name="tf-lifecycle-2"))
    assert em.BGPApi(client).find_bgp_config_by_project(project.id).status is None  # no BGP: the empty structure

    key = keys.create_ssh_key(em.SSHKeyCreateInput(label="tf", key=PUBLIC_KEY))
    assert keys.find_ssh_key_by_id(key.id).key == PUBLIC_KEY

    reservation = ips.request_ip_reservation(project.id, em.RequestIPReservationRequest(em.IPReservationRequestInput(
        type="public_ipv4", quantity=4, metro=metro, details="edge", tags=["lb"], customdata={"team": "net"}))).actual_instance
    assert (reservation.cidr, reservation.details, reservation.tags, reservation.customdata) == (30, "edge", ["lb"], {"team": "net"})
    assert reservation.metro.code == metro
    ips.update_ip_address(reservation.id, ip_assignment_update_input=em.IPAssignmentUpdateInput(details="edge-2", tags=["lb", "v2"]))
    reread = ips.find_ip_address_by_id(reservation.id).actual_instance
    assert (reread.details, reread.tags) == ("edge-2", ["lb", "v2"])

    by_metro = devices.create_device(project.id, em.CreateDeviceRequest(em.DeviceCreateInMetroInput(
        metro=metro, plan=site.plan.slug, operating_system=site.os.slug, hostname="tf1", tags=["a"])))
    by_list = devices.create_device(project.id, em.CreateDeviceRequest(em.DeviceCreateInFacilityInput(
        facility=em.FacilityInputFacility(["nowhere1", facility.upper(), "any"]), plan=site.plan.slug,
        operating_system=site.os.slug)))  # no hostname: one is made up
    assert by_metro.project.id == project.id and by_list.hostname
    for created in (by_metro, by_list):
        device = wait_until(lambda c=created: devices.find_device_by_id(c.id), lambda d: d.state in ("active", "failed"), timeout=150)
        assert device.state == "active", Device.objects.get(pk=device.id).failure_reason
        assert device.facility.code == facility
        assert device.ip_addresses and all(a.assigned_to.href == device.href for a in device.ip_addresses)
        assert [p.name for p in device.network_ports][:1] == ["bond0"] and all(p.data.bonded for p in device.network_ports)
        assert PUBLIC_KEY in Device.objects.get(pk=device.id).ssh_keys

    device_id = by_metro.id
    devices.update_device(device_id, em.DeviceUpdateInput(hostname="tf1-renamed", tags=["a", "b"], locked=True))
    assert (devices.find_device_by_id(device_id).hostname, devices.find_device_by_id(device_id).locked) == ("tf1-renamed", True)
    with pytest.raises(em.ApiException) as refused:
        devices.delete_device(device_id)
    assert refused.value.status == 422 and "locked" in refused.value.body
    devices.update_device(device_id, em.DeviceUpdateInput(locked=False))
    for action, settled in (("power_off", "inactive"), ("power_on", "active"), ("reboot", "active"), ("reinstall", "active")):
        devices.perform_action(device_id, em.DeviceActionInput(type=action))
        wait_until(lambda: devices.find_device_by_id(device_id).state, lambda s, settled=settled: s == settled, timeout=150)

    network = ipaddress.ip_network(f"{reservation.network}/{reservation.cidr}")
    assigned = devices.create_ip_assignment(device_id, em.IPAssignmentInput(address=f"{network[2]}/32"))
    assert assigned.assigned_to.href.endswith(device_id) and assigned.parent_block.href.endswith(reservation.id)
    assert f"{network[2]}" in [a.address for a in devices.find_ip_assignments(device_id).ip_addresses]
    ips.delete_ip_address(assigned.id)
    assert f"{network[2]}" not in [a.address for a in devices.find_ip_assignments(device_id).ip_addresses]
    with_assignments = ips.find_ip_reservations(project.id, include=["assignments"]).ip_addresses
    assert [r.actual_instance.id for r in with_assignments] == [reservation.id]

    events = em.EventsApi(client).find_device_events(device_id).events
    assert events and all(e.interpolated for e in events)
    assert em.EventsApi(client).find_event_by_id(events[0].id).id == events[0].id
    assert em.EventsApi(client).find_project_events(project.id).events

    for gone in (by_list.id, device_id):
        devices.delete_device(gone)
        wait_until(lambda g=gone: Device.objects.get(pk=g).state, lambda s: s == "deleted", timeout=120)
    ips.delete_ip_address(reservation.id)
    keys.delete_ssh_key(key.id)
    with pytest.raises(em.ApiException) as missing:
        keys.find_ssh_key_by_id(key.id)
    assert missing.value.status == 404
    projects.delete_project(project.id)
    with pytest.raises(em.ApiException) as deleted:
        projects.find_project_by_id(project.id)
    assert deleted.value.status == 404
