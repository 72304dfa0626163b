"""API tokens: stored only as a hash, shown once, revocable, scoped."""
from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.models import APIToken
from apps.audit.models import AuditEvent
from tests.factories import ProjectFactory


class WhoAmI(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        token = request.auth
        return Response({"user": request.user.username, "token": str(token.pk) if token else None})


urlpatterns = [path("whoami", WhoAmI.as_view())]


@pytest.fixture
def whoami_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.mark.django_db
def test_plaintext_is_never_stored(user):
    token, plaintext = services.api_token_create(user=user, description="ci")
    assert len(plaintext) >= 40
    assert token.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    dumped = repr(rows)
    assert plaintext not in dumped
    assert plaintext[6:] not in dumped
    # Nor does the audit log copy it.
    assert plaintext not in repr(list(AuditEvent.objects.values_list("changes", flat=True)))


@pytest.mark.django_db
def test_token_authenticates_and_revoked_token_stops_working(user, whoami_urls):
    token, plaintext = services.api_token_create(user=user)
    client = Client()
    ok = client.get("/whoami", HTTP_X_AUTH_TOKEN=plaintext)
    assert ok.status_code == 200
    assert ok.json() == {"user": user.username, "token": str(token.pk)}
    assert client.get("/whoami", HTTP_AUTHORIZATION=f"Token {plaintext}").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    services.api_token_revoke(token=token, actor=user)
    refused = client.get("/whoami", HTTP_X_AUTH_TOKEN=plaintext)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["errors"][0]


@pytest.mark.django_db
def test_wrong_token_and_no_token_are_refused(user, whoami_urls):
    services.api_token_create(user=user)
    client = Client()
    assert client.get("/whoami", HTTP_X_AUTH_TOKEN="not-a-token").status_code == 401
    assert client.get("/whoami").status_code in (401, 403)


@pytest.mark.django_db
def test_token_of_deactivated_user_stops_working(user, whoami_urls):
    _, plaintext = services.api_token_create(user=user)
    user.is_active = False
    user.save()
    assert Client().get("/whoami", HTTP_X_AUTH_TOKEN=plaintext).status_code == 401


@pytest.mark.django_db
def test_revoke_is_idempotent_and_audited(user):
    token, _ = services.api_token_create(user=user)
    services.api_token_revoke(token=token, actor=user)
    first = APIToken.objects.get(pk=token.pk).revoked_at
    services.api_token_revoke(token=token, actor=user)
    assert APIToken.objects.get(pk=token.pk).revoked_at == first
    assert AuditEvent.objects.filter(action="accounts.api_token.revoke", target_id=str(token.pk)).count() == 1


@pytest.mark.django_db
def test_authentication_loads_what_the_orm_loads_in_one_query(user):
    # api_token_authenticate() writes its query by hand (speed); it must load the same objects.
    project = ProjectFactory()
    token, plaintext = services.api_token_create(user=user, project=project, read_only=True, description="scoped")
    with CaptureQueriesContext(connection) as first:
        loaded = services.api_token_authenticate(plaintext=plaintext)
    assert len(first) == 2  # the lookup, and last_used_at written on first use
    expected = APIToken.objects.select_related("user", "project").get(pk=token.pk)
    for got, want in ((loaded, expected), (loaded.user, expected.user), (loaded.project, expected.project)):
        assert type(got) is type(want)
        assert {f.attname: getattr(got, f.attname) for f in want._meta.concrete_fields} == \
            {f.attname: getattr(want, f.attname) for f in want._meta.concrete_fields}
        assert not got._state.adding
    assert loaded.read_only and loaded.project_id == project.pk
    with CaptureQueriesContext(connection) as again:
        assert services.api_token_authenticate(plaintext=plaintext).pk == token.pk
        assert services.api_token_authenticate(plaintext=plaintext).user.username == user.username
    assert len(again) == 2  # the lookup only: last_used_at is refreshed at most once a minute
    _, plain2 = services.api_token_create(user=user)
    assert services.api_token_authenticate(plaintext=plain2).project is None
    assert services.api_token_authenticate(plaintext=plain2 + "x") is None
