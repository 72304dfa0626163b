"""The role matrix: who may read and write in a project."""
from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import Role
from apps.accounts.selectors import MANAGE, OWN, READ, WRITE, can, project_role, projects_where, visible_projects
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory

# role -> the actions it allows
MATRIX = {
    Role.READ_ONLY: {READ},
    Role.COLLABORATOR: {READ, WRITE},
    Role.ADMIN: {READ, WRITE, MANAGE},
    Role.OWNER: {READ, WRITE, MANAGE, OWN},
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("scope", ["organization", "project"])
def test_role_matrix(role, scope):
    project = ProjectFactory()
    other_project = ProjectFactory()
    user = UserFactory()
    if scope == "organization":
        services.membership_set(user=user, organization=project.organization, role=role)
    else:
        services.membership_set(user=user, project=project, role=role)
    for action in (READ, WRITE, MANAGE, OWN):
        assert can(user, project, action) is (action in MATRIX[role]), (role, scope, action)
        assert can(user, other_project, action) is False
    assert list(visible_projects(user)) == [project]


@pytest.mark.django_db
def test_highest_of_org_and_project_role_counts():
    project = ProjectFactory()
    user = UserFactory()
    services.membership_set(user=user, organization=project.organization, role=Role.READ_ONLY)
    services.membership_set(user=user, project=project, role=Role.ADMIN)
    assert project_role(user, project) == Role.ADMIN
    sibling = ProjectFactory(organization=project.organization)
    assert project_role(user, sibling) == Role.READ_ONLY


@pytest.mark.django_db
def test_org_membership_covers_every_project_of_the_org_only():
    org = OrganizationFactory()
    mine = [ProjectFactory(organization=org) for _ in range(3)]
    ProjectFactory()  # another organization's
    user = UserFactory()
    MembershipFactory(user=user, project=None, organization=org, role=Role.COLLABORATOR)
    assert set(visible_projects(user)) == set(mine)
    assert set(projects_where(user, WRITE)) == set(mine)
    assert set(projects_where(user, MANAGE)) == set()


@pytest.mark.django_db
def test_tokens_narrow_what_a_user_may_do():
    project = ProjectFactory()
    sibling = ProjectFactory(organization=project.organization)
    user = UserFactory()
    services.membership_set(user=user, organization=project.organization, role=Role.OWNER)
    read_only, _ = services.api_token_create(user=user, read_only=True)
    scoped, _ = services.api_token_create(user=user, project=project)
    assert can(user, project, WRITE)
    assert not can(user, project, WRITE, token=read_only)
    assert can(user, project, READ, token=read_only)
    assert can(user, project, OWN, token=scoped)
    assert not can(user, sibling, READ, token=scoped)
    assert set(visible_projects(user, scoped)) == {project}


@pytest.mark.django_db
def test_anonymous_and_strangers_see_nothing():
    from django.contrib.auth.models import AnonymousUser

    project = ProjectFactory()
    assert list(visible_projects(AnonymousUser())) == []
    assert project_role(UserFactory(), project) is None


@pytest.mark.django_db
def test_last_owner_cannot_be_removed():
    from django.core.exceptions import ValidationError

    org = OrganizationFactory()
    owner = UserFactory()
    membership = services.membership_set(user=owner, organization=org, role=Role.OWNER)
    with pytest.raises(ValidationError, match="last owner"):
        services.membership_remove(membership=membership)
    services.membership_set(user=UserFactory(), organization=org, role=Role.OWNER)
    services.membership_remove(membership=membership)


@pytest.mark.django_db
def test_a_role_read_with_the_project_is_trusted_only_for_the_same_caller():
    project = ProjectFactory()
    owner, reader = UserFactory(), UserFactory()
    services.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    services.membership_set(user=reader, organization=project.organization, role=Role.READ_ONLY)
    seen_by_owner = visible_projects(owner).get(pk=project.pk)
    assert can(owner, seen_by_owner, OWN)
    # The same instance handed to a check for someone else, or for the owner's read-only token,
    # is judged afresh, not by the rank that came with it.
    assert project_role(reader, seen_by_owner) == Role.READ_ONLY and not can(reader, seen_by_owner, WRITE)
    token, _ = services.api_token_create(user=owner, read_only=True)
    assert project_role(owner, seen_by_owner, token) == Role.READ_ONLY
    assert project_role(UserFactory(), seen_by_owner) is None
