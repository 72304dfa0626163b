"""Customer pages: scoped to the user's projects, CSRF-protected, errors shown on the form."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import Client

from apps.accounts import services
from apps.accounts.models import APIToken, Invitation, Role, SSHKey
from tests.factories import ProjectFactory, UserFactory


def pubkey() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture
def setup(db):
    mine, theirs = ProjectFactory(name="mine"), ProjectFactory(name="theirs")
    user = UserFactory(username="cust")
    services.membership_set(user=user, project=mine, role=Role.COLLABORATOR)
    client = Client()
    client.force_login(user)
    return {"user": user, "mine": mine, "theirs": theirs, "client": client}


def test_login_required():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_dashboard_lists_only_my_projects(setup):
    page = setup["client"].get("/").content.decode()
    assert "mine" in page and "theirs" not in page
    assert setup["client"].get(f"/projects/{setup['mine'].pk}/").status_code == 200
    assert setup["client"].get(f"/projects/{setup['theirs'].pk}/").status_code == 404


def test_add_key_and_garbage_key(setup):
    client = setup["client"]
    bad = client.post("/ssh-keys/add/", {"label": "x", "key": "ssh-rsa AAAA!!nonsense"})
    assert bad.status_code == 200 and "Not a valid OpenSSH public key" in bad.content.decode()
    assert client.post("/ssh-keys/add/", {"label": "laptop", "key": pubkey()}).status_code == 302
    assert SSHKey.objects.filter(owner=setup["user"], label="laptop").exists()
    assert client.post(f"/projects/{setup['mine'].pk}/ssh-keys/", {"label": "deploy", "key": pubkey()}).status_code == 302
    assert SSHKey.objects.filter(project=setup["mine"], label="deploy").exists()
    assert client.post(f"/projects/{setup['theirs'].pk}/ssh-keys/", {"label": "evil", "key": pubkey()}).status_code == 404


def test_token_shown_once_then_revoked(setup):
    client = setup["client"]
    page = client.post("/api-tokens/create/", {"description": "laptop"}).content.decode()
    token = APIToken.objects.get(user=setup["user"])
    assert token.key_preview in page
    assert token.key_preview + "…" in client.get("/").content.decode()
    client.post(f"/api-tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_forms_need_csrf(setup):
    client = Client(enforce_csrf_checks=True)
    client.force_login(setup["user"])
    assert client.post("/ssh-keys/add/", {"label": "x", "key": pubkey()}).status_code == 403
    assert not SSHKey.objects.exists()


def test_the_invitee_accepts_in_the_portal_and_no_one_else_can(setup):
    inviter, mine = setup["user"], setup["mine"]
    services.membership_set(user=inviter, project=mine, role=Role.ADMIN)
    response = setup["client"].post(f"/projects/{mine.pk}/members/invite/", {"email": "Grace@Example.com", "role": "collaborator"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(invitee="grace@example.com")
    stranger = Client()
    stranger.force_login(UserFactory(username="mallory", email="mallory@example.com"))
    assert "Invitations for you" not in stranger.get("/").content.decode()
    assert stranger.post(f"/invitations/{invitation.pk}/accept/").status_code == 404
    grace = UserFactory(username="grace", email="grace@example.com")
    client = Client()
    client.force_login(grace)
    assert "Invitations for you" in client.get("/").content.decode()
    assert client.post(f"/invitations/{invitation.pk}/accept/").status_code == 302
    assert mine.memberships.get(user=grace).role == Role.COLLABORATOR
    assert not Invitation.objects.exists()
    assert client.get(f"/projects/{mine.pk}/").status_code == 200


def test_accepting_an_invitation_that_would_demote_the_last_owner_says_why_and_changes_nothing(setup):
    owner, mine = setup["user"], setup["mine"]
    owner.email = "cust@example.com"
    owner.save()
    services.membership_set(user=owner, project=mine, role=Role.OWNER)
    invitation = services.invitation_create(organization=mine.organization, invitee="cust@example.com", role=Role.READ_ONLY,
                                            projects=[mine])
    response = setup["client"].post(f"/invitations/{invitation.pk}/accept/", follow=True)
    assert response.status_code == 200
    assert "last owner of project mine" in response.content.decode()
    assert mine.memberships.get(user=owner).role == Role.OWNER
    assert Invitation.objects.filter(pk=invitation.pk).exists()
