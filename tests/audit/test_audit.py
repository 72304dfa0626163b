"""Every write in accounts leaves an AuditEvent; the log is append-only."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.accounts import services
from apps.accounts.models import Role
from apps.audit.context import acting_as
from apps.audit.models import ActorType, AuditEvent
from apps.audit.selectors import events_for
from tests.factories import UserFactory


def _key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.django_db
def test_every_accounts_write_is_audited():
    actor = UserFactory(username="operator")
    before = AuditEvent.objects.count()
    with acting_as(actor, request_id="req-1", source_ip="192.0.2.7"):
        user = services.user_create(username="newbie")
        org = services.organization_create(name="Initech", owner=user)
        project = services.project_create(organization=org, name="web")
        services.project_update(project=project, name="web-prod")
        m = services.membership_set(user=UserFactory(), project=project, role=Role.READ_ONLY)
        services.membership_set(user=m.user, project=project, role=Role.ADMIN)
        services.membership_remove(membership=m)
        token, _ = services.api_token_create(user=user, project=project)
        services.api_token_revoke(token=token)
        key = services.ssh_key_create(label="k", key=_key(), owner=user)
        services.ssh_key_update(ssh_key=key, label="k2")
        services.ssh_key_delete(ssh_key=key)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True)[before:])
    assert actions == [
        "accounts.user.create",
        "accounts.organization.create",
        "accounts.membership.set",
        "accounts.project.create",
        "accounts.project.update",
        "accounts.membership.set",
        "accounts.membership.set",
        "accounts.membership.remove",
        "accounts.api_token.create",
        "accounts.api_token.revoke",
        "accounts.ssh_key.create",
        "accounts.ssh_key.update",
        "accounts.ssh_key.delete",
    ]
    update = events_for(project).get(action="accounts.project.update")
    assert update.changes == {"name": ["web", "web-prod"]}
    assert update.actor_type == ActorType.USER and update.actor_name == "operator"
    assert update.request_id == "req-1" and update.source_ip == "192.0.2.7"


@pytest.mark.django_db
def test_system_actor_when_nobody_acts():
    org = services.organization_create(name="Cron Corp")
    event = events_for(org).get()
    assert event.actor_type == ActorType.SYSTEM and event.actor_name == "system"


@pytest.mark.django_db
def test_events_cannot_be_edited_or_deleted_through_the_model():
    event = services.organization_create(name="Immutable") and AuditEvent.objects.first()
    event.action = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_refuses_update_and_delete():
    services.organization_create(name="Trigger Inc")
    for sql in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.filter(action="accounts.organization.create").exists()


@pytest.mark.django_db
def test_admin_shows_the_log_read_only_to_staff(staff_user):
    services.organization_create(name="Visible")
    event = AuditEvent.objects.first()
    client = Client()
    client.force_login(staff_user)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_admin_is_staff_only(user):
    client = Client()
    client.force_login(user)
    response = client.get("/admin/audit/auditevent/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
