"""The provisioning network boundary: the endpoints machines call exist only on the provisioning
listener; the public site answers 404 for them, and the provisioning listener serves nothing else.
Its errors are JSON, never Django's (technical) pages."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.test import Client

from tests.conftest import provisioning_client

pytestmark = pytest.mark.django_db

MACHINE_CALLS = [
    ("get", "/ipxe/boot.ipxe"),
    ("get", "/ipxe/mac/52-54-00-12-34-56"),
    ("get", "/machine/00000000-0000-0000-0000-000000000000/metadata"),
    ("get", "/machine/00000000-0000-0000-0000-000000000000/userdata"),
    ("post", "/machine/00000000-0000-0000-0000-000000000000/events"),
    ("post", "/machine/00000000-0000-0000-0000-000000000000/phone-home"),
    ("post", "/machine/00000000-0000-0000-0000-000000000000/failure"),
    ("post", "/machine/00000000-0000-0000-0000-000000000000/inventory"),
    ("post", "/discovery/52-54-00-12-34-56/inventory"),
    ("get", "/netboot/assets/vmlinuz"),
    ("post", "/machine/00000000-0000-0000-0000-000000000000/claim"),
    ("get", "/metadata"),
    ("get", "/userdata"),
    ("get", "/latest/meta-data/"),
    ("get", "/2009-04-04/meta-data/hostname"),
    ("get", "/latest/user-data"),
]


@pytest.mark.parametrize(("method", "path"), MACHINE_CALLS)
def test_the_public_site_does_not_serve_machine_endpoints(method: str, path: str) -> None:
    from apps.installs.models import DiscoveredMachine

    answer = getattr(Client(), method)(path, data=b"{}", content_type="application/json") if method == "post" \
        else Client().get(path)
    assert answer.status_code == 404
    assert not DiscoveredMachine.objects.exists()


@pytest.mark.parametrize("path", ["/admin/", "/api/hardware/servers", "/metal/v1/projects", "/accounts/login/", "/"])
def test_the_provisioning_listener_serves_nothing_else_and_answers_json(path: str) -> None:
    answer = provisioning_client().get(path)
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {"errors": ["Not Found"]}


def test_no_technical_page_on_the_provisioning_listener_even_under_debug(settings) -> None:
    settings.DEBUG = True
    missing = provisioning_client().get("/nothing-here")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    # A Host the site does not serve: under DEBUG Django answers with its technical page (settings and all).
    bad_host = provisioning_client().get("/ipxe/boot.ipxe", HTTP_HOST="evil.example")
    assert bad_host.status_code == 400 and bad_host["Content-Type"] == "application/json"
    assert b"DATABASE" not in bad_host.content and b"Traceback" not in bad_host.content
    deep = provisioning_client().post("/discovery/52-54-00-12-34-56/inventory", data=b"[" * 50000,
                                      content_type="application/json")
    assert deep.status_code == 400 and deep["Content-Type"] == "application/json"


@pytest.mark.postgres
def test_the_provisioning_wsgi_application_serves_machine_endpoints_over_http(provisioning_server) -> None:
    with urllib.request.urlopen(f"{provisioning_server.url}/ipxe/boot.ipxe", timeout=10) as answer:  # noqa: S310 - loopback
        assert answer.read().decode().startswith("#!ipxe\nchain http://127.0.0.1:")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{provisioning_server.url}/admin/", timeout=10)  # noqa: S310 - loopback
    assert refused.value.code == 404 and json.loads(refused.value.read()) == {"errors": ["Not Found"]}


def test_the_provisioning_wsgi_module_marks_its_requests() -> None:
    from project.listeners import LISTENER_KEY, PROVISIONING
    from project.provisioning_wsgi import application

    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return [b""]

    application.application = inner
    try:
        application({"PATH_INFO": "/"}, lambda *a: None)
    finally:
        from django.core.wsgi import get_wsgi_application

        application.application = get_wsgi_application()
    assert seen[LISTENER_KEY] == PROVISIONING
