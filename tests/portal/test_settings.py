"""A project's settings page: its API tokens, created (shown once) and revoked by admins and owners through the
API's own services; the token works in that project only; nobody else sees or touches them."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Role
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_creates_a_project_token_shown_once_and_revokes_it():
    project, other = ProjectFactory(name="web"), ProjectFactory(name="other")
    admin = UserFactory(username="admin")
    accounts.membership_set(user=admin, project=project, role=Role.ADMIN)
    client = _client(admin)
    assert client.get(f"/projects/{project.pk}/settings/").status_code == 200

    response = client.post(f"/projects/{project.pk}/api-tokens/create/", {"description": "ci", "read_only": "on"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-token">([^<]+)<', response.content.decode()).group(1)
    token = APIToken.objects.get(project=project)
    assert token.user == admin and token.read_only and token.description == "ci" and secret.startswith(token.key_preview)
    settings_page = client.get(f"/projects/{project.pk}/settings/").content.decode()
    assert f"{token.key_preview}…" in settings_page and secret not in settings_page  # never shown again

    # The API takes it, in its project only, read-only.
    api = Client(HTTP_X_AUTH_TOKEN=secret)
    assert api.get(f"/metal/v1/projects/{project.pk}").status_code == 200
    assert api.get(f"/metal/v1/projects/{other.pk}").status_code == 404

    response = client.post(f"/projects/{project.pk}/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and api.get(f"/metal/v1/projects/{project.pk}").status_code == 401
    assert f"<code>{token.key_preview}…</code>" not in client.get(f"/projects/{project.pk}/settings/").content.decode()


def test_a_collaborator_neither_sees_nor_manages_project_tokens_and_another_tenant_gets_404():
    project, theirs = ProjectFactory(name="web"), ProjectFactory(name="theirs")
    owner, collaborator, stranger = UserFactory(), UserFactory(), UserFactory()
    accounts.membership_set(user=owner, project=project, role=Role.OWNER)
    accounts.membership_set(user=collaborator, project=project, role=Role.COLLABORATOR)
    accounts.membership_set(user=stranger, project=theirs, role=Role.OWNER)
    token, _ = accounts.api_token_create(user=owner, project=project, description="deploy bot")
    page = _client(collaborator).get(f"/projects/{project.pk}/settings/").content.decode()
    assert "deploy bot" not in page and token.key_preview not in page and 'method="post" action="/projects/' not in page
    for client, expected in ((_client(collaborator), 403), (_client(stranger), 404)):
        assert client.post(f"/projects/{project.pk}/api-tokens/create/", {"description": "x"}).status_code == expected
        assert client.post(f"/projects/{project.pk}/api-tokens/{token.pk}/revoke/").status_code == expected
        assert client.get(f"/projects/{project.pk}/settings/").status_code == (200 if expected == 403 else 404)
    token.refresh_from_db()
    assert token.revoked_at is None and APIToken.objects.filter(project=project).count() == 1
    # A token of another project is not revocable from this one's page.
    their_token, _ = accounts.api_token_create(user=stranger, project=theirs)
    assert _client(owner).post(f"/projects/{project.pk}/api-tokens/{their_token.pk}/revoke/").status_code == 404
