"""Finding 3 of the security review (no quotas): a collaborator reserved a metro's whole public IPv4 space in 13
calls and ordered devices with megabytes of userdata that were copied into the audit log. Each attack is replayed
and must be refused (422 naming the limit) with nothing changed in the database; the race test proves the limit
holds under real concurrent connections on PostgreSQL."""
from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from apps.accounts import quotas
from apps.accounts import services as accounts
from apps.accounts.models import Project, Quota, QuotaResource, Role
from apps.audit.models import AuditEvent
from apps.installs.models import Device
from apps.ipam import services as ipam
from apps.ipam.models import Block, Kind
from project.public_ids import public_id
from tests.concurrency import run_concurrently
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures
from tests.installs.test_api import client_for
from tests.ipam.conftest import facility, metro, pool4, pool6, supernet4, supernet6  # noqa: F401 - fixtures
from tests.security.dbstate import changed_tables, db_fingerprint


@pytest.fixture
def tenant(db):
    project = ProjectFactory(name="staging")
    collaborator = UserFactory(username="bob")
    accounts.membership_set(user=collaborator, project=project, role=Role.COLLABORATOR)
    return {"project": project, "organization": project.organization, "bob": collaborator}


def reserve(client, project, **body):  # noqa: ANN001
    return client.post(f"/metal/v1/projects/{project.pk}/ips", {"type": "public_ipv4", "facility": "da11", **body}, format="json")


@pytest.mark.django_db
def test_reserving_a_whole_pool_is_refused_at_the_project_quota(tenant, pool4) -> None:  # noqa: F811
    quotas.quota_set(resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, limit=16, project=tenant["project"])
    client = client_for(tenant["bob"])
    assert reserve(client, tenant["project"], quantity=8).status_code == 201
    before = db_fingerprint()
    # The review's attack: the biggest block first, then smaller ones until refused.
    for cidr in (24, 25, 26, 27, 28):
        answer = reserve(client, tenant["project"], cidr=cidr)
        assert answer.status_code == 422, answer.content
        assert answer.json()["fields"]["public_ipv4_addresses"] == [
            f"Project staging may hold at most 16 public IPv4 addresses (its project quota 'public_ipv4_addresses'); "
            f"it holds 8 and this asks for {2 ** (32 - cidr)} more. Release some, or ask support to raise the limit."]
    assert changed_tables(before, db_fingerprint()) == []
    assert reserve(client, tenant["project"], cidr=29).status_code == 201  # exactly up to the limit
    assert reserve(client, tenant["project"], cidr=32).status_code == 422


@pytest.mark.django_db
def test_the_organization_quota_counts_every_project(tenant, pool4, pool6) -> None:  # noqa: F811
    sibling = ProjectFactory(organization=tenant["organization"], name="prod")
    accounts.membership_set(user=tenant["bob"], project=sibling, role=Role.COLLABORATOR)
    quotas.quota_set(resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, limit=8, organization=tenant["organization"])
    quotas.quota_set(resource=QuotaResource.IPV6_BLOCKS, limit=1, organization=tenant["organization"])
    client = client_for(tenant["bob"])
    assert reserve(client, tenant["project"], quantity=4).status_code == 201
    assert reserve(client, sibling, quantity=4).status_code == 201
    v6 = client.post(f"/metal/v1/projects/{sibling.pk}/ips", {"type": "public_ipv6", "cidr": 56, "facility": "da11"}, format="json")
    assert v6.status_code == 201
    before = db_fingerprint()
    refused = reserve(client, sibling, quantity=1)
    assert refused.status_code == 422
    assert "Organization " in refused.json()["errors"][0] and "organization quota 'public_ipv4_addresses'" in refused.json()["errors"][0]
    refused6 = client.post(f"/metal/v1/projects/{tenant['project'].pk}/ips", {"type": "public_ipv6", "cidr": 56, "facility": "da11"},
                           format="json")
    assert refused6.status_code == 422 and "at most 1 IPv6 block " in refused6.json()["fields"]["ipv6_blocks"][0]
    assert changed_tables(before, db_fingerprint()) == []
    # Releasing gives the room back.
    block = Block.objects.active().filter(project=sibling, kind=Kind.RESERVATION, family=4).get()
    assert client.delete(f"/metal/v1/ips/{public_id('ip', block.pk)}").status_code == 204
    assert reserve(client, sibling, quantity=2).status_code == 201


@pytest.mark.django_db
def test_defaults_come_from_settings_and_overrides_are_audited(tenant, pool4, settings) -> None:  # noqa: F811
    settings.QUOTA_DEFAULTS = {"project": {"devices": 3, "public_ipv4_addresses": 4, "ipv6_blocks": 1},
                               "organization": {"devices": 9, "public_ipv4_addresses": 64, "ipv6_blocks": 5}}
    project = tenant["project"]
    assert quotas.quota_limit(QuotaResource.PUBLIC_IPV4_ADDRESSES, project=project) == 4
    with pytest.raises(quotas.QuotaExceeded):
        ipam.reservation_create(project=project, pool=pool4, quantity=8)
    raised = quotas.quota_set(resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, limit=8, project=project, actor=tenant["bob"])
    assert ipam.reservation_create(project=project, pool=pool4, quantity=8).size == 8
    event = AuditEvent.objects.filter(action="accounts.quota.set").get()
    assert event.changes["limit"] == [None, 8] and event.actor_name == "bob"
    quotas.quota_clear(quota=raised)
    assert quotas.quota_limit(QuotaResource.PUBLIC_IPV4_ADDRESSES, project=project) == 4
    assert AuditEvent.objects.filter(action="accounts.quota.clear").count() == 1


@pytest.mark.django_db
def test_staff_set_a_quota_in_the_admin_through_the_service(tenant, staff_user) -> None:
    browser = Client()
    browser.force_login(staff_user)
    answer = browser.post("/admin/accounts/quota/add/", {"organization": str(tenant["organization"].pk), "project": "",
                                                         "resource": QuotaResource.DEVICES, "limit": "7"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    quota = Quota.objects.get()
    assert (quota.organization_id, quota.limit) == (tenant["organization"].pk, 7)
    assert AuditEvent.objects.filter(action="accounts.quota.set", actor_name=staff_user.username).count() == 1
    listing = browser.get("/admin/accounts/quota/")
    assert listing.status_code == 200 and b"Devices" in listing.content
    both = browser.post("/admin/accounts/quota/add/", {"organization": str(tenant["organization"].pk),
                                                       "project": str(tenant["project"].pk), "resource": QuotaResource.DEVICES, "limit": "1"})
    assert both.status_code == 200 and b"not both" in both.content
    assert browser.post(f"/admin/accounts/quota/{quota.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Quota.objects.exists() and AuditEvent.objects.filter(action="accounts.quota.clear").count() == 1


def order(client, project, rack, **over):  # noqa: ANN001, F811
    return client.post(f"/metal/v1/projects/{project.pk}/devices",
                       {"hostname": "web1", "plan": rack["plan"].slug, "facility": rack["facility"].code,
                        "operating_system": rack["os"].slug, **over}, format="json")


@pytest.mark.django_db
def test_devices_past_the_quota_are_refused_and_a_batch_over_it_orders_nothing(tenant, rack) -> None:  # noqa: F811
    quotas.quota_set(resource=QuotaResource.DEVICES, limit=2, project=tenant["project"])
    client = client_for(tenant["bob"])
    assert order(client, tenant["project"], rack, hostname="a1").status_code == 201
    before = db_fingerprint()
    batch = client.post(f"/metal/v1/projects/{tenant['project'].pk}/devices/batch", {"batches": [
        {"hostname": "web-{{index}}", "quantity": 2, "plan": rack["plan"].slug, "facility": rack["facility"].code,
         "operating_system": rack["os"].slug}]}, format="json")
    assert batch.status_code == 422, batch.content
    assert batch.json()["fields"]["devices"] == [
        "Project staging may hold at most 2 devices (its project quota 'devices'); it holds 1 and this asks for 2 more. "
        "Release some, or ask support to raise the limit."]
    assert changed_tables(before, db_fingerprint()) == []
    assert order(client, tenant["project"], rack, hostname="a2").status_code == 201
    before = db_fingerprint()
    third = order(client, tenant["project"], rack, hostname="a3")
    assert third.status_code == 422 and "quota 'devices'" in third.json()["errors"][0]
    assert changed_tables(before, db_fingerprint()) == []
    assert Device.objects.filter(project=tenant["project"]).count() == 2


@pytest.mark.django_db
def test_userdata_is_limited_to_64_kib_and_never_copied_into_the_audit_log(tenant, rack) -> None:  # noqa: F811
    client = client_for(tenant["bob"])
    before = db_fingerprint()
    # The review's 2.4 MB never reaches the order (the JSON body limit, 400); 64 KiB and one byte is a field error.
    assert order(client, tenant["project"], rack, userdata="#cloud-config\n" + "x" * 2_400_000).status_code == 400
    huge = order(client, tenant["project"], rack, userdata="x" * (64 * 1024 + 1))
    assert huge.status_code == 422 and huge.json()["fields"]["userdata"] == ["Userdata is at most 65536 bytes (64 KiB); this is 65537 bytes."]
    assert changed_tables(before, db_fingerprint()) == []
    secret = "#cloud-config\npassword: B-TENANT-SECRET-db-password\n"
    made = order(client, tenant["project"], rack, userdata=secret)
    assert made.status_code == 201
    device = Device.objects.get(pk=made.json()["id"])
    assert device.userdata == secret
    for event in AuditEvent.objects.all():
        assert "B-TENANT-SECRET" not in str(event.changes)
    created = AuditEvent.objects.get(action="installs.device.create")
    assert created.changes["userdata"] == [None, {"bytes": len(secret.encode()), "sha256": hashlib.sha256(secret.encode()).hexdigest()}]
    changed = client.put(f"/metal/v1/devices/{device.pk}", {"userdata": "#!/bin/sh\necho OTHER-SECRET\n"}, format="json")
    assert changed.status_code == 200, changed.content
    assert "OTHER-SECRET" not in str(AuditEvent.objects.get(action="installs.device.update").changes)
    assert client.put(f"/metal/v1/devices/{device.pk}", {"userdata": "y" * 65537}, format="json").status_code == 422


# ---------------------------------------------------------------------------------------------- the race


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_32_concurrent_reservations_against_a_quota_of_8_grant_exactly_8(pool4) -> None:  # noqa: F811
    """32 threads, each on its own PostgreSQL connection, reserve one public IPv4 address at the same moment in
    one project whose quota is 8 (half of them through a sibling project, against the organization's quota
    of 8 as well): exactly 8 are granted, the other 24 get QuotaExceeded, nothing else."""
    project = ProjectFactory()
    sibling = ProjectFactory(organization=project.organization)
    quotas.quota_set(resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, limit=8, organization=project.organization)
    quotas.quota_set(resource=QuotaResource.PUBLIC_IPV4_ADDRESSES, limit=8, project=project)
    granted: list[int] = []
    refused: list[str] = []

    def reserve(index: int, target: Project) -> None:
        try:
            granted.append(ipam.reservation_create(project=target, pool=pool4, quantity=1).pk)
        except quotas.QuotaExceeded as exc:
            refused.append(" ".join(exc.messages))

    errors = run_concurrently(reserve, 32, prepare=lambda index: Project.objects.get(pk=(project if index % 2 else sibling).pk))
    assert errors == []
    assert (len(granted), len(refused)) == (8, 24)
    active = Block.objects.active().filter(kind=Kind.RESERVATION, project__organization=project.organization)
    assert active.count() == 8 and sum(b.size for b in active) == 8
    assert all("quota 'public_ipv4_addresses'" in message for message in refused)


@pytest.mark.django_db
def test_the_quota_command_shows_sets_and_clears(tenant, pool4) -> None:  # noqa: F811
    from io import StringIO

    from django.core.management import CommandError, call_command

    ipam.reservation_create(project=tenant["project"], pool=pool4, quantity=4)
    ref = f"{tenant['organization'].slug}/staging"
    out = StringIO()
    call_command("quota", "--project", ref, "--set", "public_ipv4_addresses=32", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"project {tenant['project']}"
    assert lines[2].split() == ["public_ipv4_addresses", "4", "of", "32", "(override)"]
    assert lines[1].split() == ["devices", "0", "of", "100", "(default)"]
    assert AuditEvent.objects.filter(action="accounts.quota.set", actor_name="manage.py quota").count() == 1
    call_command("quota", "--project", ref, "--clear", "public_ipv4_addresses", stdout=StringIO())
    assert not Quota.objects.exists()
    with pytest.raises(CommandError, match="RESOURCE=LIMIT"):
        call_command("quota", "--project", ref, "--set", "addresses=lots")
    with pytest.raises(CommandError, match="No organization 'nobody'"):
        call_command("quota", "--organization", "nobody")
