"""Customer pages for servers: deploy, watch progress, reinstall and delete — within the user's projects."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs.models import Device, DeviceState, Install, InstallEvent
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import PlanFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures
from tests.installs.factories import DeviceFactory, OperatingSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(rack):  # noqa: F811
    mine, theirs = ProjectFactory(name="mine"), ProjectFactory(name="theirs")
    user, reader = UserFactory(username="cust"), UserFactory(username="reader")
    accounts.membership_set(user=user, project=mine, role=Role.COLLABORATOR)
    accounts.membership_set(user=reader, project=mine, role=Role.READ_ONLY)
    client = Client()
    client.force_login(user)
    return {"mine": mine, "theirs": theirs, "user": user, "reader": reader, "client": client, **rack}


def test_deploy_from_the_project_page(site):
    client = site["client"]
    page = client.get(f"/projects/{site['mine'].pk}/").content.decode()
    assert "Deploy a server" in page
    form = client.get(f"/projects/{site['mine'].pk}/deploy/").content.decode()
    assert f"({len(site['servers'])} ready)" in form and "mine-01" in form  # availability and a suggested hostname
    response = client.post(f"/projects/{site['mine'].pk}/deploy/", {
        "hostname": "web1", "plan": site["plan"].slug, "operating_system": site["os"].slug,
        "location": f"metro:{site['facility'].metro.code}", "public_ipv4_subnet_size": 31})
    device = Device.objects.get(hostname="web1")
    assert response.status_code == 302 and response["Location"] == f"/devices/{device.pk}/"
    assert device.project == site["mine"] and device.state == DeviceState.QUEUED
    assert "web1" in client.get(f"/projects/{site['mine'].pk}/").content.decode()


def test_bad_order_shows_the_reason(site):
    response = site["client"].post(f"/projects/{site['mine'].pk}/deploy/", {
        "hostname": "-bad-", "plan": site["plan"].slug, "operating_system": site["os"].slug,
        "location": f"facility:{site['facility'].code}", "public_ipv4_subnet_size": 31})
    assert response.status_code == 200
    page = response.content.decode()
    # The message sits beside the hostname field (Django's field group: the error list right after its label).
    assert 'id="id_hostname_error"' in page and 'aria-invalid="true"' in page
    assert not Device.objects.exists()


def test_device_page_shows_progress_and_timeline(site):
    device = DeviceFactory(project=site["mine"], plan=site["plan"], facility=site["facility"], operating_system=site["os"],
                           state=DeviceState.PROVISIONING)
    install = Install.objects.create(kind="provision", device=device, operating_system=site["os"])
    from django.utils import timezone

    InstallEvent.objects.create(install=install, type="provisioning.101", body="Provisioning started", created_at=timezone.now())
    InstallEvent.objects.create(install=install, type="provisioning.104", body="Connected to magic install system", created_at=timezone.now())
    page = site["client"].get(f"/devices/{device.pk}/").content.decode()
    assert "Connected to magic install system" in page and "30%" in page


def test_other_tenants_device_is_404_and_reader_cannot_delete(site):
    theirs = DeviceFactory(project=site["theirs"], plan=site["plan"], facility=site["facility"], operating_system=site["os"])
    client = site["client"]
    assert client.get(f"/devices/{theirs.pk}/").status_code == 404
    assert client.post(f"/devices/{theirs.pk}/delete/").status_code == 404
    mine = DeviceFactory(project=site["mine"], plan=site["plan"], facility=site["facility"], operating_system=site["os"],
                         state=DeviceState.ACTIVE)
    reader = Client()
    reader.force_login(site["reader"])
    page = reader.get(f"/devices/{mine.pk}/").content.decode()
    # The reader gets no action at all (the header says which role could act), and no form that would post one.
    assert ">Delete</button>" not in page and "<button" not in page.split('id="device-live"')[1].split("</section>")[0]
    assert "you can see everything here; changing it: This needs the &#x27;collaborator&#x27; role or higher" in page
    assert f'action="/devices/{mine.pk}/delete/"' not in page
    assert reader.post(f"/devices/{mine.pk}/delete/").status_code == 403
    mine.refresh_from_db()
    assert mine.state == DeviceState.ACTIVE


def test_delete_moves_the_device_to_deprovisioning(site):
    device = DeviceFactory(project=site["mine"], plan=site["plan"], facility=site["facility"], operating_system=site["os"],
                           state=DeviceState.ACTIVE, server=site["servers"][0])
    response = site["client"].post(f"/devices/{device.pk}/delete/")
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.state == DeviceState.DEPROVISIONING
    assert Install.objects.filter(device=device, kind="deprovision").exists()


def test_deploy_form_keys_follow_the_one_rule(site):
    """The form lists the keys the rule writes by default; all checked is the default, some is exactly those,
    none is no key."""
    from tests.portal.test_portal import pubkey

    mine, user = site["mine"], site["user"]
    project_key = accounts.ssh_key_create(project=mine, label="deploy", key=pubkey())
    personal = accounts.ssh_key_create(owner=user, label="laptop", key=pubkey())
    reader_key = accounts.ssh_key_create(owner=site["reader"], label="reader", key=pubkey())
    page = site["client"].get(f"/projects/{mine.pk}/deploy/").content.decode()
    assert f'value="project:{project_key.pk}" checked' in page and f'value="user:{personal.pk}" checked' in page
    assert str(reader_key.pk) not in page  # a read-only member's key does not go on servers
    order = {"plan": site["plan"].slug, "operating_system": site["os"].slug, "location": f"facility:{site['facility'].code}",
             "ssh_keys_shown": "1"}
    for hostname, keys, expected in (("all", [f"project:{project_key.pk}", f"user:{personal.pk}"], [project_key.key, personal.key]),
                                     ("some", [f"user:{personal.pk}"], [personal.key]), ("none", [], [])):
        response = site["client"].post(f"/projects/{mine.pk}/deploy/", {**order, "hostname": hostname, "ssh_keys": keys})
        assert response.status_code == 302, response.content.decode()
        assert sorted(Device.objects.get(hostname=hostname).ssh_keys) == sorted(expected), hostname


def test_reinstall_offers_the_plans_operating_systems_only(site):
    other_plan_os = OperatingSystemFactory(name="Elsewhere 1", plans=[PlanFactory()])
    second = OperatingSystemFactory(name="Alpine 3", plans=[site["plan"]])
    retired = OperatingSystemFactory(name="Retired 1", plans=[site["plan"]], provisionable=False)
    device = DeviceFactory(project=site["mine"], plan=site["plan"], facility=site["facility"], operating_system=site["os"],
                           state=DeviceState.ACTIVE, server=site["servers"][0], hostname="web1")
    page = site["client"].get(f"/devices/{device.pk}/").content.decode()
    picker = page.split('name="operating_system"')[1].split("</select>")[0]
    assert f'value="{site["os"].slug}" selected' in picker and f'value="{second.slug}"' in picker
    assert other_plan_os.slug not in picker and retired.slug not in picker

    # Another plan's system, posted anyway: refused with the reason, nothing changed.
    response = site["client"].post(f"/devices/{device.pk}/reinstall/", {"operating_system": other_plan_os.slug}, follow=True)
    assert f"cannot be installed on {site['plan'].slug}" in response.content.decode()
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE and device.operating_system == site["os"] and not device.installs.filter(kind="reinstall").exists()

    assert site["client"].post(f"/devices/{device.pk}/reinstall/", {"operating_system": second.slug}).status_code == 302
    device.refresh_from_db()
    assert device.state == DeviceState.REINSTALLING and device.operating_system == second
    assert device.installs.get(kind="reinstall").operating_system == second
