"""The portal in a real browser (Playwright + Debian's Chromium) against a live server: a read-only member sees no
control that writes on any page and is refused (403/404, nothing changed) when posting anyway, and an API token is
shown once. Every page visited passes axe-core (no serious or critical violation) and logs no console error;
screenshots go under the run's artifacts. The customer's whole journey with the lab installing the server is in
test_browser_lab.py."""
from __future__ import annotations

import pytest

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Invitation, Membership, Role, SSHKey
from apps.installs.models import DeviceState
from apps.ipam import services as ipam
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures
from tests.installs.factories import DeviceFactory
from tests.portal.browser import browse, chromium, sign_in  # noqa: F401 - fixtures
from tests.portal.test_portal import pubkey

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]
PASSWORD = "pw-for-tests-only"  # tests.factories.UserFactory's


# What can write from a page: a form that posts (signing out is the user's own, not the project's) or an htmx request
# that is not a GET. Search and filters are GET forms.
WRITING = "form[method=post]:not([action='/accounts/logout/']), [hx-post], [hx-put], [hx-patch], [hx-delete], [formmethod=post]"


def test_a_read_only_member_sees_no_write_control_and_is_refused_anyway(live_server, browse, rack):  # noqa: F811
    project = ProjectFactory(name="web")
    reader, owner = UserFactory(username="reader"), UserFactory(username="owner")
    accounts.membership_set(user=reader, project=project, role=Role.READ_ONLY)
    owner_membership = accounts.membership_set(user=owner, project=project, role=Role.OWNER)
    device = DeviceFactory(project=project, plan=rack["plan"], facility=rack["facility"], operating_system=rack["os"],
                           state=DeviceState.ACTIVE, server=rack["servers"][0], hostname="web-01")
    key = accounts.ssh_key_create(project=project, label="deploy", key=pubkey(), actor=owner)
    reservation = ipam.reservation_create(project=project, quantity=4, facility=rack["facility"], actor=owner)
    invitation = accounts.invitation_create(organization=project.organization, invitee="x@example.com", role=Role.COLLABORATOR,
                                            projects=[project], actor=owner)
    person = browse()
    page = person.page
    base = live_server.url
    sign_in(person, base, "reader", PASSWORD)
    person.check_accessibility()
    page.get_by_label("Project", exact=True).select_option(label="web (read_only)")
    page.wait_for_url(f"{base}/projects/{project.pk}/")
    assert "you can see everything here" in page.locator(".project-head").inner_text()
    assert page.get_by_role("link", name="Deploy", exact=True).count() == 0

    # Every page of the project: what is there is shown, and not one form or button that writes (search and filters
    # are GET forms; signing out is the user's own).
    pages = [f"/projects/{project.pk}/", f"/devices/{device.pk}/", f"/projects/{project.pk}/deploy/", f"/projects/{project.pk}/ips/",
             f"/projects/{project.pk}/ips/{reservation.pk}/", f"/projects/{project.pk}/ssh-keys/", f"/projects/{project.pk}/members/",
             f"/projects/{project.pk}/events/"]
    for path in pages:
        page.goto(f"{base}{path}")
        assert page.locator(WRITING).count() == 0, (path, page.locator(WRITING).evaluate_all("els => els.map(e => e.outerHTML)"))
        assert page.locator("[disabled]").count() == 0, path
        person.check_accessibility()
    page.goto(f"{base}/devices/{device.pk}/")
    assert page.get_by_text("web-01").first.is_visible() and page.locator("#device-live .badge[data-state=active]").is_visible()
    person.shot("read-only-device", docs=True)

    # Posting anyway, with the session and its CSRF token as the page would: refused, nothing changed.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    posts = [f"/devices/{device.pk}/{action}/" for action in ("power_off", "reboot", "reinstall", "delete")] + [
        f"/projects/{project.pk}/deploy/", f"/projects/{project.pk}/ips/", f"/projects/{project.pk}/ips/{reservation.pk}/",
        f"/projects/{project.pk}/ips/{reservation.pk}/release/", f"/projects/{project.pk}/ssh-keys/", f"/ssh-keys/{key.pk}/delete/",
        f"/projects/{project.pk}/members/invite/", f"/projects/{project.pk}/members/{owner_membership.pk}/role/",
        f"/projects/{project.pk}/members/{owner_membership.pk}/remove/", f"/projects/{project.pk}/invitations/{invitation.pk}/withdraw/"]
    before = _project_state(project)
    for path in posts:
        response = page.request.post(f"{base}{path}", headers={"X-CSRFToken": csrf}, max_redirects=0,
                                     form={"email": "x@example.com", "role": "owner", "label": "k", "key": pubkey(), "quantity": "4",
                                           "location": f"facility:{rack['facility'].code}", "device": str(device.pk),
                                           "hostname": "web-02", "plan": rack["plan"].slug, "operating_system": rack["os"].slug})
        assert response.status in (403, 404), (path, response.status)
    assert _project_state(project) == before


def _project_state(project) -> dict:
    """What a write could have changed in the project: its servers and their states, addresses, keys, members, invitations."""
    return {"devices": sorted(project.devices.values_list("hostname", "state")),
            "blocks": sorted(project.ip_blocks.filter(released_at__isnull=True).values_list("pk", flat=True)),
            "keys": sorted(SSHKey.objects.filter(project=project).values_list("pk", flat=True)),
            "members": sorted(Membership.objects.filter(project=project).values_list("user__username", "role")),
            "invitations": sorted(Invitation.objects.filter(projects=project).values_list("invitee", flat=True))}


def test_an_api_token_is_shown_once(live_server, browse, db):  # noqa: F811
    owner = UserFactory(username="owner")
    project = ProjectFactory(name="web")
    accounts.membership_set(user=owner, project=project, role=Role.OWNER)
    person = browse()
    page = person.page
    sign_in(person, live_server.url, "owner", PASSWORD)
    page.get_by_label("Description").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text().strip()
    token = APIToken.objects.get(user=owner, project__isnull=True)
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

    # The project's own token, from its settings page (owners and admins): shown once, listed by its preview, revoked.
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    person.check_accessibility()
    page.get_by_label("Description").fill("ci")
    page.get_by_role("button", name="Create token").click()
    project_secret = page.locator("#new-token").inner_text().strip()
    project_token = APIToken.objects.get(project=project)
    assert project_secret.startswith(project_token.key_preview) and accounts.api_token_authenticate(plaintext=project_secret) == project_token
    person.check_accessibility()
    person.shot("project-token-created", docs=True)
    page.get_by_role("link", name="Back to the project's settings").click()
    assert page.locator("table").get_by_text(f"{project_token.key_preview}…").is_visible() and project_secret not in page.content()
    person.shot("project-settings", docs=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke token {project_token.key_preview}").click()
    page.wait_for_selector("text=revoked; scripts using it get 401")
    assert accounts.api_token_authenticate(plaintext=project_secret) is None
