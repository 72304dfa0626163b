"""Finding 2 (and the HTTP 500s of the review): production-safe settings, JSON errors, bounded JSON bodies.

The attack: a server started as the README said (`DEBUG=1 gunicorn …`) silently used the public development
keys, and an unauthenticated POST of `[` × 50 000 raised RecursionError and showed the technical 500 page
with DATABASE_URL and REDIS_URL. Now DEBUG alone refuses to start without keys, `check --deploy` is clean
with the documented production variables, and every JSON route answers a 400/500 JSON body without detail.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.http import HttpRequest
from django.test import override_settings
from django.urls import include, path
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import Role
from tests.factories import ProjectFactory, UserFactory
from tests.security.dbstate import changed_tables, db_fingerprint

ROOT = Path(__file__).resolve().parents[2]
DEV_AND_KEYS = {"DEBUG", "METALYARD_DEV_KEYS", "SECRET_KEY", "METALYARD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The variables docs/operations.md documents for production (and nothing of development)."""
    env = {k: v for k, v in os.environ.items() if k not in DEV_AND_KEYS}
    env.update({"SECRET_KEY": "p" * 20 + "-production-secret-key-" + "q" * 30, "METALYARD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "ALLOWED_HOSTS": "metal.example.com", "METALYARD_DATA_DIR": str(tmp_path),
                "METALYARD_CACHE_URL": "redis://127.0.0.1:6379/0"})
    env.update(extra)
    return env


def manage(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_debug_alone_no_longer_brings_in_the_development_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in DEV_AND_KEYS}
    env.update({"DEBUG": "1", "METALYARD_DATA_DIR": str(tmp_path)})
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr and "METALYARD_DEV_KEYS=1" in result.stderr
    env["METALYARD_DEV_KEYS"] = "1"
    assert manage(env, "check").returncode == 0


def test_check_deploy_is_clean_with_the_documented_production_variables(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy")
    assert result.returncode == 0, result.stderr
    security = [line for line in (result.stdout + result.stderr).splitlines() if "(security." in line or "(metalyard." in line]
    assert security == []
    # Without a shared cache, each web process would keep its own throttle counts: check --deploy says so.
    per_process = manage({k: v for k, v in production_env(tmp_path).items() if k != "METALYARD_CACHE_URL"}, "check", "--deploy")
    assert "(metalyard.W001) Throttle counts and login lockouts are kept per process" in per_process.stdout + per_process.stderr
    # And DEBUG left on in production is exactly what check --deploy then reports.
    debug_on = manage(production_env(tmp_path, DEBUG="1"), "check", "--deploy")
    assert "security.W018" in debug_on.stdout + debug_on.stderr


def test_production_transport_defaults(tmp_path):
    code = ("from django.conf import settings as s; import json; print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.DEBUG]))")
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="project.settings")
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert json.loads(out.stdout) == [True, True, 31536000, ["HTTP_X_FORWARDED_PROTO", "https"], True, False], out.stderr


def test_makefile_passes_dev_keys_explicitly_and_readme_production_has_no_debug():
    makefile = (ROOT / "Makefile").read_text()
    run_lines = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert all("METALYARD_DEV_KEYS=1" in line for line in run_lines.splitlines()[1:] if "manage.py" in line)
    readme = (ROOT / "README.md").read_text()
    production = readme.split("## How it scales out", 1)[1].split("## Documentation", 1)[0]
    assert "DEBUG=1" not in production and "gunicorn project.wsgi" in production


@pytest.fixture
def tenant(db):
    project = ProjectFactory(name="victim")
    user = UserFactory(username="poster")
    services.membership_set(user=user, organization=project.organization, role=Role.OWNER)
    _, plaintext = services.api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return project, client


def test_deeply_nested_json_is_a_400_and_writes_nothing(tenant):
    project, client = tenant
    before = db_fingerprint()
    for body in ("[" * 50_000, '{"a":' * 5_000 + "1" + "}" * 5_000):
        response = client.post(f"/metal/v1/projects/{project.pk}/ssh-keys", body, content_type="application/json")
        assert response.status_code == 400, response.content[:300]
        assert "nested more than" in response.json()["errors"][0]
    # Brackets inside a string are text, not nesting.
    ok = client.post(f"/metal/v1/projects/{project.pk}/ssh-keys", json.dumps({"label": "[" * 500, "key": "x"}), content_type="application/json")
    assert ok.status_code == 422
    assert changed_tables(before, db_fingerprint()) == []


def test_oversize_json_is_a_400_without_parsing(tenant, settings):
    project, client = tenant
    settings.JSON_BODY_MAX_BYTES = 10_000
    before = db_fingerprint()
    response = client.post(f"/metal/v1/projects/{project.pk}/ssh-keys", json.dumps({"label": "x" * 20_000, "key": "k"}),
                           content_type="application/json")
    assert response.status_code == 400 and "larger than 10000 bytes" in response.json()["errors"][0]
    assert changed_tables(before, db_fingerprint()) == []


def test_staff_filters_with_bad_values_are_field_errors_not_500(db):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_authenticate(staff)
    for query in ("family=abc", "parent=abc", "parent=99999999999999999999999", "project=abc", "kind=nonsense"):
        response = client.get(f"/api/ipam/blocks?{query}")
        assert response.status_code == 422, (query, response.content[:200])
        assert response.json()["errors"]
    response = client.get("/api/ipam/who-held?address=147.75.0.1&at=2026-13-45T99:00:00")
    assert response.status_code == 422 and "ISO 8601" in response.json()["errors"][0]


def _explode(request: HttpRequest):
    raise RuntimeError("redis://:Sup3rS3cretRedisPw@10.9.9.9:6379/0 is unreachable")


urlpatterns = [path("api/explode", _explode), path("metal/v1/explode", _explode), path("", include("project.urls"))]


@pytest.mark.urls("tests.security.test_production_settings")
@pytest.mark.parametrize("url", ["/api/explode", "/metal/v1/explode"])
def test_unexpected_errors_on_api_routes_are_json_without_detail_even_with_debug(client, url):
    client.raise_request_exception = False
    with override_settings(DEBUG=True):
        response = client.get(url)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.content.decode()
    assert "Sup3rS3cret" not in body and "DATABASE_URL" not in body and "Traceback" not in body
    assert response.json()["errors"]


def test_the_debug_page_hides_urls_with_credentials():
    from project.errors import SettingsHidingReporterFilter

    reporter = SettingsHidingReporterFilter()
    cleansed = reporter.get_safe_settings()
    for name in ("DATABASE_URL", "REDIS_URL", "Q_CLUSTER", "DATABASES"):
        assert cleansed[name] == reporter.cleansed_substitute, name


def test_unauthenticated_nested_json_to_the_discovery_endpoint_is_a_400(client, db):
    """The exact request of the review: no account, `[` × 50 000 to /discovery/<mac>/inventory."""
    before = db_fingerprint()
    with override_settings(DEBUG=True):
        response = client.post("/discovery/de-ad-be-ef-02-01/inventory", "[" * 50_000, content_type="application/json")
    assert response.status_code in (400, 404)  # 404 once the machine endpoints leave the public site
    assert "DATABASE_URL" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert changed_tables(before, db_fingerprint()) == []
