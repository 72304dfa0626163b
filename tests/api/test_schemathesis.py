"""schemathesis over both OpenAPI schemas (/metal/v1/openapi.json and /api/schema/): generated requests to
every operation, with a real customer's (or staff member's) token and real objects to find, must never
get an HTTP 500 nor a response that breaks its schema."""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from django.urls import include, path  # noqa: E402 - after the importorskip
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance  # noqa: E402

from apps.accounts import services as accounts  # noqa: E402
from apps.accounts.models import Role  # noqa: E402
from apps.api import urls as api_urls  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _schema(prefix: str, patterns: list) -> object:
    """The schema each tree serves (the same generator and patterns as its schema view), as a dict."""
    document = SchemaGenerator(patterns=[path(prefix, include(patterns))]).get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(document)
    from django.core.wsgi import get_wsgi_application

    schema.app = get_wsgi_application()
    return schema


metal = _schema("metal/v1/", api_urls.customer_patterns)
staff = _schema("api/", api_urls.staff_patterns)


@pytest.fixture
def tokens(db, rack, settings):
    # The WSGI app runs in this thread, inside the test's transaction: like Django's test client, keep
    # the request signals from closing the connection.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.ALLOWED_HOSTS = ["*"]
    customer = UserFactory(email="fuzz@example.com")
    org = accounts.organization_create(name="Fuzz", slug="fuzz", owner=customer)
    project = accounts.project_create(organization=org, name="fuzz")
    accounts.ssh_key_create(label="k", key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fuzz", project=project)
    staff_user = UserFactory(is_staff=True, is_superuser=True)
    accounts.membership_set(user=staff_user, organization=org, role=Role.READ_ONLY)
    yield {"customer": accounts.api_token_create(user=customer)[1], "staff": accounts.api_token_create(user=staff_user)[1]}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@metal.parametrize()
@EXAMPLES
def test_customer_api_never_500s_nor_breaks_its_schema(case, tokens) -> None:
    case.call_and_validate(headers={"X-Auth-Token": tokens["customer"]}, checks=CHECKS)


@staff.parametrize()
@EXAMPLES
def test_staff_api_never_500s_nor_breaks_its_schema(case, tokens) -> None:
    case.call_and_validate(headers={"X-Auth-Token": tokens["staff"]}, checks=CHECKS)
