"""The customer API for projects, SSH keys and API keys: Equinix Metal shapes, tenancy, errors."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import APIToken, Role, SSHKey
from project.public_ids import public_id
from tests.factories import ProjectFactory, UserFactory


def pubkey() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture
def tenant(db):
    """alice: owner of org A (projects a1, a2); mallory: owner of org B (project b1)."""
    a1 = ProjectFactory(name="a1")
    a2 = ProjectFactory(name="a2", organization=a1.organization)
    b1 = ProjectFactory(name="b1")
    alice, mallory = UserFactory(username="alice"), UserFactory(username="mallory")
    services.membership_set(user=alice, organization=a1.organization, role=Role.OWNER)
    services.membership_set(user=mallory, organization=b1.organization, role=Role.OWNER)
    return {"a1": a1, "a2": a2, "b1": b1, "alice": alice, "mallory": mallory}


def client_for(user, **token_kwargs) -> APIClient:  # noqa: ANN001
    _, plaintext = services.api_token_create(user=user, **token_kwargs)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client


@pytest.mark.parametrize("base", ["/metal/v1"])
def test_projects_list_in_metal_shape(tenant, base):
    response = client_for(tenant["alice"]).get(f"{base}/projects")
    assert response.status_code == 200
    body = response.json()
    assert sorted(p["name"] for p in body["projects"]) == ["a1", "a2"]
    assert body["meta"]["total"] == 2 and body["meta"]["current_page"] == 1
    project = body["projects"][0]
    assert project["href"] == f"/metal/v1/projects/{project['id']}"
    org_id = str(tenant['a1'].organization_id)
    assert project["organization"] == {"id": org_id, "href": f"/metal/v1/organizations/{org_id}"}
    assert project["role"] == "owner"


def test_pagination_per_page(tenant):
    body = client_for(tenant["alice"]).get("/metal/v1/projects?per_page=1&page=2").json()
    assert len(body["projects"]) == 1 and body["meta"]["last_page"] == 2 and body["meta"]["previous"]


def test_other_tenants_project_is_404_everywhere(tenant):
    client = client_for(tenant["alice"])
    b1 = tenant["b1"].pk
    assert client.get(f"/metal/v1/projects/{b1}").status_code == 404
    assert client.put(f"/metal/v1/projects/{b1}", {"name": "pwned"}, format="json").status_code == 404
    assert client.delete(f"/metal/v1/projects/{b1}").status_code == 404
    assert client.get(f"/metal/v1/projects/{b1}/ssh-keys").status_code == 404
    assert client.post(f"/metal/v1/projects/{b1}/ssh-keys", {"label": "x", "key": pubkey()}, format="json").status_code == 404
    assert client.get(f"/metal/v1/organizations/{tenant['b1'].organization_id}").status_code == 404
    tenant["b1"].refresh_from_db()
    assert tenant["b1"].name == "b1"


def test_create_project_and_validation_errors(tenant):
    client = client_for(tenant["alice"])
    org = tenant["a1"].organization_id
    created = client.post(f"/metal/v1/organizations/{org}/projects", {"name": "new"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "new"
    missing = client.post("/metal/v1/projects", {}, format="json")
    assert missing.status_code == 422
    assert "name" in missing.json()["fields"]
    assert any(e.startswith("name:") for e in missing.json()["errors"])
    duplicate = client.post("/metal/v1/projects", {"name": "new", "organization_id": str(org)}, format="json")
    assert duplicate.status_code == 422 and "already has a project" in str(duplicate.json())
    foreign = client.post("/metal/v1/projects", {"name": "x", "organization_id": str(tenant["b1"].organization_id)}, format="json")
    assert foreign.status_code == 404


def test_read_only_token_cannot_write(tenant):
    client = client_for(tenant["alice"], read_only=True)
    a1 = tenant["a1"].pk
    assert client.get(f"/metal/v1/projects/{a1}").status_code == 200
    refused = client.put(f"/metal/v1/projects/{a1}", {"name": "renamed"}, format="json")
    assert refused.status_code == 403 and "read-only" in refused.json()["errors"][0]
    assert client.post("/metal/v1/ssh-keys", {"label": "x", "key": pubkey()}, format="json").status_code == 403


def test_collaborator_may_add_project_keys_but_not_rename(tenant):
    bob = UserFactory(username="bob")
    services.membership_set(user=bob, project=tenant["a1"], role=Role.COLLABORATOR)
    client = client_for(bob)
    a1 = tenant["a1"].pk
    assert client.post(f"/metal/v1/projects/{a1}/ssh-keys", {"label": "deploy", "key": pubkey()}, format="json").status_code == 201
    renamed = client.put(f"/metal/v1/projects/{a1}", {"name": "renamed"}, format="json")
    assert renamed.status_code == 403 and "admin" in renamed.json()["errors"][0]
    assert client.get(f"/metal/v1/projects/{tenant['a2'].pk}").status_code == 404


def test_ssh_keys_crud_and_bad_key(tenant):
    client = client_for(tenant["alice"])
    bad = client.post("/metal/v1/ssh-keys", {"label": "bad", "key": "ssh-rsa garbage"}, format="json")
    assert bad.status_code == 422 and "key" in bad.json()["fields"]
    created = client.post("/metal/v1/ssh-keys", {"label": "laptop", "key": pubkey()}, format="json")
    assert created.status_code == 201
    key = created.json()
    assert key["fingerprint"].count(":") == 15 and key["owner"]["href"].endswith(public_id("user", tenant["alice"].pk))
    # Stored and returned exactly as sent (Terraform compares), validated on a normalised copy.
    sent = pubkey() + " me@laptop\n"
    exact = client.post("/metal/v1/ssh-keys", {"label": "file", "key": sent}, format="json").json()
    assert exact["key"] == sent and client.get(exact["href"]).json()["key"] == sent
    assert client.put(f"/metal/v1/ssh-keys/{key['id']}", {"label": "desk"}, format="json").json()["label"] == "desk"
    # mallory cannot see or delete it
    assert client_for(tenant["mallory"]).delete(f"/metal/v1/ssh-keys/{key['id']}").status_code == 404
    assert client.delete(f"/metal/v1/ssh-keys/{key['id']}").status_code == 204
    assert not SSHKey.objects.filter(pk=key["id"]).exists()


def test_api_keys_readable_by_their_owner_only_and_encrypted_at_rest(tenant):
    client = client_for(tenant["alice"])
    created = client.post("/metal/v1/user/api-keys", {"description": "ci"}, format="json")
    assert created.status_code == 201
    plaintext = created.json()["token"]
    assert len(plaintext) > 40
    # Terraform and packngo read the token back from the list.
    listed = client.get("/metal/v1/user/api-keys").json()["api_keys"]
    assert [k["token"] for k in listed if k["id"] == created.json()["id"]] == [plaintext]
    # At rest: a hash for lookup and a Fernet ciphertext, never the token itself.
    with connection.cursor() as cursor:
        token_id = APIToken._meta.pk.get_db_prep_value(created.json()["id"], connection)  # SQLite stores UUIDs without dashes
        cursor.execute("SELECT key_hash, key_encrypted FROM accounts_apitoken WHERE id = %s", [token_id])
        key_hash, stored = cursor.fetchone()
    assert plaintext not in key_hash + stored and stored.startswith("fernet:")
    # Another admin of a project sees the project's tokens, but only previews of those they did not make.
    project_key = client.post(f"/metal/v1/projects/{tenant['a1'].pk}/api-keys", {"description": "p"}, format="json").json()
    other = UserFactory(username="carol")
    services.membership_set(user=other, project=tenant["a1"], role=Role.ADMIN)
    seen = client_for(other).get(f"/metal/v1/projects/{tenant['a1'].pk}/api-keys").json()["api_keys"]
    assert [k["token"] for k in seen] == [project_key["token"][:6] + "…"]
    fresh = APIClient()
    fresh.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    assert fresh.get("/metal/v1/user").json()["username"] == "alice"
    assert client.delete(f"/metal/v1/api-keys/{created.json()['id']}").status_code == 204
    assert fresh.get("/metal/v1/user").status_code == 401
    assert APIToken.objects.get(pk=created.json()["id"]).revoked_at is not None


def test_project_token_sees_only_its_project(tenant):
    client = client_for(tenant["alice"], project=tenant["a1"])
    assert [p["name"] for p in client.get("/metal/v1/projects").json()["projects"]] == ["a1"]
    assert client.get(f"/metal/v1/projects/{tenant['a2'].pk}").status_code == 404
    assert client.post("/metal/v1/user/api-keys", {}, format="json").status_code == 403


def test_unauthenticated_is_401():
    assert APIClient().get("/metal/v1/projects").status_code in (401, 403)
