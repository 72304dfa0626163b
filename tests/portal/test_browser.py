"""The portal in a real browser (Playwright + Debian's Chromium) against a live server: what a read-only member
sees and cannot do, and an API token shown once. Every page visited passes axe-core (no serious or critical
violation) and logs no console error; screenshots go under the run's artifacts. The customer's whole journey
with the lab installing the server is in test_browser_lab.py."""
from __future__ import annotations

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Role
from apps.installs.models import Device, DeviceState
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures
from tests.installs.factories import DeviceFactory
from tests.portal.browser import browse, chromium, sign_in  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]
PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory's


def test_a_read_only_member_sees_why_they_cannot_act_and_is_refused_anyway(live_server, browse, rack):  # noqa: F811
    project = ProjectFactory(name="web")
    reader = UserFactory(username="reader")
    accounts.membership_set(user=reader, project=project, role=Role.READ_ONLY)
    device = DeviceFactory(project=project, plan=rack["plan"], facility=rack["facility"], operating_system=rack["os"],
                           state=DeviceState.ACTIVE, server=rack["servers"][0], hostname="web-01")
    person = browse()
    page = person.page
    sign_in(person, live_server.url, "reader", PASSWORD)
    person.check_accessibility()
    page.get_by_label("Project", exact=True).select_option(label="web (read_only)")
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/")
    deploy_button = page.get_by_role("button", name="Deploy a server")
    assert deploy_button.is_disabled()
    assert "collaborator" in page.locator("#deploy-why").inner_text()
    person.check_accessibility()

    page.get_by_role("link", name="web-01").click()
    for label in ("Power off", "Reboot", "Reinstall", "Delete"):
        button = page.get_by_role("button", name=label, exact=True)
        assert button.is_disabled(), label
        assert "'collaborator' role" in page.locator(f"#{button.get_attribute('aria-describedby')}").inner_text()
    person.check_accessibility()
    person.shot("read-only-device", docs=True)

    page.goto(f"{live_server.url}/projects/{project.pk}/deploy/")
    assert page.get_by_role("button", name="Deploy", exact=True).is_disabled() and page.get_by_label("Hostname").is_disabled()
    person.check_accessibility()
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    assert page.get_by_role("button", name="Invite").is_disabled()
    person.check_accessibility()

    # Posting anyway, with the session and its CSRF token as the page would: refused, nothing changed.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for path in (f"/devices/{device.pk}/power_off/", f"/devices/{device.pk}/delete/", f"/projects/{project.pk}/deploy/",
                 f"/projects/{project.pk}/members/invite/", f"/projects/{project.pk}/ips/"):
        response = page.request.post(f"{live_server.url}{path}", headers={"X-CSRFToken": csrf}, form={"email": "x@example.com"})
        assert response.status in (403, 404), (path, response.status)
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE and Device.objects.filter(project=project).count() == 1


def test_an_api_token_is_shown_once(live_server, browse, db):  # noqa: F811
    owner = UserFactory(username="owner")
    accounts.membership_set(user=owner, project=ProjectFactory(name="web"), role=Role.OWNER)
    person = browse()
    page = person.page
    sign_in(person, live_server.url, "owner", PASSWORD)
    page.get_by_label("Description").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    token = APIToken.objects.get(user=owner)
    assert secret.startswith(token.key_preview) and len(secret) > len(token.key_preview) + 8
    person.check_accessibility()
    person.shot("token-created", docs=True)
    page.get_by_role("link", name="Back to your projects").click()
    assert f"{token.key_preview}…" in page.content() and secret not in page.content()
    page.goto(f"{live_server.url}/")
    assert secret not in page.content()
    assert accounts.api_token_authenticate(plaintext=secret) is not None  # it was the real token
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke token {token.key_preview}").click()
    page.wait_for_selector("text=revoked")
    token.refresh_from_db()
    assert token.revoked_at is not None
    person.check_accessibility()
