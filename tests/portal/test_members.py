"""Members of a project, by its owners: change a member's role, remove a member — never the project's last owner,
never someone ranked above oneself; every refusal changes nothing."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Role
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _roles(project) -> dict[str, str]:
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def test_an_owner_changes_roles_and_removes_members_but_never_the_last_owner():
    project = ProjectFactory(name="web")
    ada, grace, alan = UserFactory(username="ada"), UserFactory(username="grace"), UserFactory(username="alan")
    mine = accounts.membership_set(user=ada, project=project, role=Role.OWNER)
    graces = accounts.membership_set(user=grace, project=project, role=Role.COLLABORATOR)
    alans = accounts.membership_set(user=alan, project=project, role=Role.READ_ONLY)
    client = _client(ada)
    members = f"/projects/{project.pk}/members/"

    assert client.post(f"{members}{graces.pk}/role/", {"role": "admin"}).status_code == 302
    assert client.post(f"{members}{alans.pk}/remove/").status_code == 302
    assert _roles(project) == {"ada": "owner", "grace": "admin"}

    # The last owner can neither step down nor leave; the page says why.
    for path, data in ((f"{members}{mine.pk}/role/", {"role": "admin"}), (f"{members}{mine.pk}/remove/", {})):
        response = client.post(path, data, follow=True)
        assert "the last owner of project web" in response.content.decode(), path
    assert _roles(project) == {"ada": "owner", "grace": "admin"}

    # With a second owner, the first may step down.
    client.post(f"{members}{graces.pk}/role/", {"role": "owner"})
    assert client.post(f"{members}{mine.pk}/role/", {"role": "collaborator"}).status_code == 302
    assert _roles(project) == {"ada": "collaborator", "grace": "owner"}


def test_an_organization_owner_keeps_the_project_owned_and_an_admin_cannot_touch_an_owner():
    project = ProjectFactory(name="web")
    boss, ada, admin = UserFactory(username="boss"), UserFactory(username="ada"), UserFactory(username="adm")
    accounts.membership_set(user=boss, organization=project.organization, role=Role.OWNER)
    adas = accounts.membership_set(user=ada, project=project, role=Role.OWNER)
    accounts.membership_set(user=admin, project=project, role=Role.ADMIN)
    members = f"/projects/{project.pk}/members/"
    page = _client(admin).get(members).content.decode()
    assert "above your role" in page and f"{members}{adas.pk}/role/" not in page and f"{members}{adas.pk}/remove/" not in page
    for path, data in ((f"{members}{adas.pk}/role/", {"role": "read_only"}), (f"{members}{adas.pk}/remove/", {})):
        assert _client(admin).post(path, data).status_code == 403, path
    assert _roles(project)["ada"] == "owner"
    # The organization's owner owns every project of it: the project's own owner may leave.
    assert _client(ada).post(f"{members}{adas.pk}/remove/").status_code == 302
    assert "ada" not in _roles(project)
