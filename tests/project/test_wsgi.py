"""project.wsgi's handler: an API path's URL is resolved once (APIPathMiddleware's match is the view's), and what it
answers is what Django's own handler answers, for a route, an unknown API route and a page outside the API."""
from __future__ import annotations

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

from apps.accounts import services as accounts
from tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """As Django's test client: a request does not close the connection the test's transaction is on."""
    request_started.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)


def call(app, path: str, **headers: str) -> tuple[str, dict, bytes]:  # noqa: ANN001
    environ = RequestFactory().get(path, **headers).environ
    environ["wsgi.input"] = io.BytesIO(b"")
    answer: dict = {}

    def start_response(status: str, response_headers: list) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_an_api_path_is_resolved_once_and_answers_as_djangos_handler(monkeypatch):
    from project.wsgi import application

    project = ProjectFactory(name="wsgi")
    user = UserFactory(username="wsgi-user")
    accounts.membership_set(user=user, organization=project.organization, role="owner")
    _, token = accounts.api_token_create(user=user, description="wsgi")
    root = get_resolver()
    resolved = []
    original = URLResolver.resolve

    def counting(self, path):  # noqa: ANN001, ANN202
        if self is root:
            resolved.append(path)
        return original(self, path)

    monkeypatch.setattr(URLResolver, "resolve", counting)
    path = f"/metal/v1/projects/{project.pk}"
    status, _, body = call(application, path, HTTP_X_AUTH_TOKEN=token)
    assert status.startswith("200") and json.loads(body)["id"] == str(project.pk)
    assert resolved == [path]
    reference = call(WSGIHandler(), path, HTTP_X_AUTH_TOKEN=token)
    assert (status, json.loads(body)) == (reference[0], json.loads(reference[2]))

    for other in ("/metal/v1/no-such-thing", "/metal/v1//projects", "/healthz"):
        mine, theirs = call(application, other, HTTP_X_AUTH_TOKEN=token), call(WSGIHandler(), other, HTTP_X_AUTH_TOKEN=token)
        assert (mine[0], mine[1].get("Content-Type"), mine[2]) == (theirs[0], theirs[1].get("Content-Type"), theirs[2]), other
