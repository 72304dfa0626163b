"""Every portal page renders for a member, and each list page costs the same number of queries with 10 rows
as with a page-full out of 200: no query per row (devices with their progress and address, reservations,
events, members, project API tokens, the staff overview)."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Membership, Role
from apps.audit.models import AuditEvent
from apps.hardware.models import ServerState
from apps.installs.models import Device, DeviceState, Install, InstallEvent
from apps.ipam import services as ipam
from apps.ipam.models import Kind
from apps.ipam.selectors import pools_for
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _fill(project, rack, count: int) -> None:  # noqa: F811
    """`count` devices (each with an install and its events), events and members; addresses and reservations for up
    to 30 of them (through the IPAM services). Rows in bulk: the page's cost, not the fixture's, is under test."""
    public_pool = pools_for(facility=rack["facility"], family=4, public=True)[0]
    devices = Device.objects.bulk_create([
        Device(project=project, plan=rack["plan"], facility=rack["facility"], operating_system=rack["os"],
               state=DeviceState.PROVISIONING, hostname=f"d{i}") for i in range(count)])
    installs = Install.objects.bulk_create([Install(kind="provision", device=d, operating_system=rack["os"]) for d in devices])
    now = timezone.now()
    InstallEvent.objects.bulk_create([InstallEvent(install=i, type=t, body=t, created_at=now)
                                      for i in installs for t in ("provisioning.101", "provisioning.104")])
    device_type = ContentType.objects.get_for_model(Device)
    AuditEvent.objects.bulk_create([AuditEvent(actor_type="system", action="installs.device.update", target_type=device_type,
                                               target_id=str(d.pk), target_repr=d.hostname) for d in devices])
    users = get_user_model().objects.bulk_create([get_user_model()(username=f"{project.name}-m{i}") for i in range(count)])
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.READ_ONLY) for u in users])
    APIToken.objects.bulk_create([APIToken(user=users[i], project=project, key_hash=f"{project.pk.hex}{i:032d}", key_preview=f"t{i}",
                                           key_encrypted=f"secret-{i}") for i in range(count)])
    for device in devices[:30]:
        ipam.assignment_create(parent=public_pool, prefix_length=32, project=project, device_id=device.pk, device_label=device.hostname)
    for _ in range(min(count, 30)):
        ipam.reservation_create(project=project, quantity=1, facility=rack["facility"])


def _queries(client: Client, url: str) -> int:
    ContentType.objects.clear_cache()  # each measure starts cold, as a fresh process would
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries)


@pytest.fixture
def owner_client(rack):  # noqa: F811
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_list_pages_cost_the_same_whatever_their_length(rack, owner_client):  # noqa: F811
    client, staff = owner_client
    counts = {}
    for size in (10, 200):
        project = ProjectFactory(name=f"p{size}")
        accounts.membership_set(user=staff, project=project, role=Role.OWNER)
        _fill(project, rack, size)
        urls = {"devices": f"/projects/{project.pk}/", "ips": f"/projects/{project.pk}/ips/",
                "events": f"/projects/{project.pk}/events/", "members": f"/projects/{project.pk}/members/",
                "tokens": f"/projects/{project.pk}/settings/",
                "overview": f"/staff/overview/?facility={rack['facility'].code}"}
        counts[size] = {name: _queries(client, url) for name, url in urls.items()}
    assert counts[10] == counts[200], counts


def test_every_project_page_renders_and_another_tenants_is_404(rack, owner_client):  # noqa: F811
    client, staff = owner_client
    mine, theirs = ProjectFactory(name="mine"), ProjectFactory(name="theirs")
    accounts.membership_set(user=staff, project=mine, role=Role.OWNER)
    _fill(mine, rack, 2)
    _fill(theirs, rack, 1)
    device = mine.devices.first()
    reservation = mine.ip_blocks.filter(kind=Kind.RESERVATION).first()
    pages = ["/", f"/projects/{mine.pk}/", f"/projects/{mine.pk}/deploy/", f"/projects/{mine.pk}/ips/",
             f"/projects/{mine.pk}/ips/{reservation.pk}/", f"/projects/{mine.pk}/ssh-keys/", f"/projects/{mine.pk}/members/",
             f"/projects/{mine.pk}/events/", f"/projects/{mine.pk}/usage/",
             f"/projects/{mine.pk}/settings/", f"/devices/{device.pk}/", f"/devices/{device.pk}/live/",
             f"/projects/{mine.pk}/deploy/choices/?plan={rack['plan'].slug}", "/staff/overview/"]
    for url in pages:
        assert client.get(url).status_code == 200, url
    their_device = theirs.devices.first()
    their_block = theirs.ip_blocks.filter(kind=Kind.RESERVATION).first()
    for url in [f"/projects/{theirs.pk}/", f"/projects/{theirs.pk}/deploy/", f"/projects/{theirs.pk}/ips/",
                f"/projects/{mine.pk}/ips/{their_block.pk}/", f"/projects/{theirs.pk}/members/", f"/projects/{theirs.pk}/events/",
                f"/devices/{their_device.pk}/", f"/devices/{their_device.pk}/live/"]:
        assert client.get(url).status_code == 404, url


def _writing_forms(html: str) -> list[str]:
    """The forms of a page that post anything other than signing out."""
    return [form for form in re.findall(r"<form\b[^>]*>", html) if 'method="post"' in form and 'action="/accounts/logout/"' not in form]


def test_a_read_only_member_gets_no_write_control_on_any_page_and_a_collaborator_does(rack):  # noqa: F811
    project = ProjectFactory(name="web")
    _fill(project, rack, 2)
    device = project.devices.first()
    device.state = DeviceState.ACTIVE
    device.server = rack["servers"][0]
    device.save()
    reservation = project.ip_blocks.filter(kind=Kind.RESERVATION).first()
    pages = [f"/projects/{project.pk}/", f"/projects/{project.pk}/deploy/", f"/projects/{project.pk}/ips/",
             f"/projects/{project.pk}/ips/{reservation.pk}/", f"/projects/{project.pk}/ssh-keys/", f"/projects/{project.pk}/members/",
             f"/projects/{project.pk}/events/", f"/projects/{project.pk}/settings/", f"/devices/{device.pk}/", f"/devices/{device.pk}/live/"]
    writers = {}
    for role in (Role.READ_ONLY, Role.COLLABORATOR, Role.ADMIN):
        user = UserFactory(username=f"u-{role}")
        accounts.membership_set(user=user, project=project, role=role)
        client = Client()
        client.force_login(user)
        writers[role] = {url: _writing_forms(client.get(url).content.decode()) for url in pages}
        for url in pages:
            page = client.get(url).content.decode()
            assert " disabled" not in page, (role, url)  # no greyed-out control either: none at all
    assert not any(writers[Role.READ_ONLY].values()), writers[Role.READ_ONLY]
    # The same pages give a collaborator the writes of servers, addresses and keys, and an admin the members' too.
    collaborator = {url for url, forms in writers[Role.COLLABORATOR].items() if forms}
    assert collaborator == {f"/projects/{project.pk}/deploy/", f"/projects/{project.pk}/ips/", f"/projects/{project.pk}/ips/{reservation.pk}/",
                            f"/projects/{project.pk}/ssh-keys/", f"/devices/{device.pk}/", f"/devices/{device.pk}/live/"}, collaborator
    for managed in (f"/projects/{project.pk}/members/", f"/projects/{project.pk}/settings/"):
        assert writers[Role.ADMIN][managed] and not writers[Role.COLLABORATOR][managed], managed


def test_staff_overview_is_for_staff_only(rack):  # noqa: F811
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/staff/overview/").status_code == 302


def test_staff_overview_counts_servers_by_state_one_row_a_state_facilities_across(rack):  # noqa: F811
    """Ten states as rows (the table stays as narrow as the admin's page however many states there are): the three
    ready servers of the rack's facility are counted in its column, in All, and as the whole of the share bar."""
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/staff/overview/?facility={rack['facility'].code}").content.decode()
    table = page.split('<table class="by-state">', 1)[1].split("</table>", 1)[0]
    header = table.split("</thead>", 1)[0]
    assert f"?facility={rack['facility'].code}" in header and ">All<" in header
    rows = {re.search(r'data-state="(\w+)"', row)[1]: re.findall(r"<td>(\d+)</td>", row) for row in table.split("<tr>")[2:]}
    assert set(rows) == {s.value for s in ServerState}
    assert rows["ready"] == ["3", "3"] and all(counts == ["0", "0"] for state, counts in rows.items() if state != "ready")
    assert 'aria-label="100% of all servers"' in table
