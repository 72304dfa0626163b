"""Deleting a project: refused (saying why) while it holds devices or IP space; once they are gone it
is deleted — invisible to every lookup, its tokens revoked — and its history still answers "who held
this address at that time"."""
from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Project, Role
from apps.audit.models import AuditEvent
from apps.installs.models import Device, DeviceState
from apps.ipam import selectors as ipam_selectors
from apps.ipam import services as ipam
from apps.ipam.models import Kind
from tests.facilities.factories import FacilityFactory
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import ServerFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned():
    project = ProjectFactory(name="gone-soon")
    owner = UserFactory()
    accounts.membership_set(user=owner, project=project, role=Role.OWNER)
    client = APIClient()
    client.force_authenticate(owner)
    return {"project": project, "owner": owner, "client": client}


def _pool():
    supernet = ipam.block_create(network="198.51.100.0/24", kind=Kind.SUPERNET, public=True)
    return ipam.block_create(network="198.51.100.0/25", kind=Kind.POOL, public=True, parent=supernet, facility=FacilityFactory())


def test_a_project_with_a_live_device_or_address_refuses_with_the_reason(owned):
    server = ServerFactory(state="active")
    device = DeviceFactory(project=owned["project"], state=DeviceState.ACTIVE, server=server, plan=server.plan, facility=server.facility)
    response = owned["client"].delete(f"/metal/v1/projects/{owned['project'].pk}")
    assert response.status_code == 422, response.content
    assert "1 device(s) that are not deleted" in response.json()["errors"][0]
    Device.objects.filter(pk=device.pk).update(state=DeviceState.DELETED)
    block = ipam.block_create(network="198.51.100.8/29", kind=Kind.RESERVATION, public=True, parent=_pool(), project=owned["project"])
    response = owned["client"].delete(f"/metal/v1/projects/{owned['project'].pk}")
    assert response.status_code == 422 and "IP reservation(s)" in response.json()["errors"][0]
    ipam.block_release(block=block)
    assert owned["client"].delete(f"/metal/v1/projects/{owned['project'].pk}").status_code == 204


def test_deleted_project_keeps_its_history(owned):
    project = owned["project"]
    token, _ = accounts.api_token_create(user=owned["owner"], project=project, description="ci")
    pool = _pool()
    held = ipam.block_create(network="198.51.100.16/31", kind=Kind.ASSIGNMENT, public=True, parent=pool, project=project)
    during = timezone.now()
    ipam.block_release(block=held)
    server = ServerFactory()
    device = DeviceFactory(project=project, state=DeviceState.DELETED, plan=server.plan, facility=server.facility)

    accounts.project_delete(project=project, actor=owned["owner"])

    assert not Project.objects.filter(pk=project.pk).exists()
    assert owned["client"].get(f"/metal/v1/projects/{project.pk}").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is not None
    [who] = ipam_selectors.who_held("198.51.100.16", during)
    assert who.project_id == project.pk and who.project.name == "gone-soon"
    assert Device.objects.get(pk=device.pk).project.name == "gone-soon"
    assert AuditEvent.objects.filter(action="accounts.project.delete", target_id=str(project.pk)).exists()
    # The name is free again in its organization.
    assert accounts.project_create(organization=project.organization, name="gone-soon", actor=owned["owner"]).pk != project.pk
