"""Tenant isolation, generated from the URL resolver (issues 13 and 20): every customer endpoint under /metal/v1/ and
every portal page or form, with every method it offers, is tried by organization A on organization B's ids — each
must answer 404 and change nothing (every row of every table, tests/security/dbstate.py). Lists A reads never name
B's objects. Read-only tokens and read-only members cannot write A's own objects (403, or 404 where they cannot even
see the object), again with nothing changed.

A new endpoint is covered without editing this file as long as its URL parameters follow a segment listed in
OBJECT_OF (`devices/<uuid:pk>` → a device); an unknown one fails the test, naming the route, until it is added to
OBJECT_OF or, with its reason, to NOT_TENANT_DATA."""
from __future__ import annotations

import datetime as dt
import inspect
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Role
from apps.audit.models import AuditEvent
from apps.billing.models import Invoice
from apps.installs.models import Batch, DeviceState, SpotMarketRequest
from apps.installs.services.reservations import hardware_reservation_create
from apps.ipam import services as ipam
from apps.ipam.models import Kind
from apps.network.models import BgpSession, VirtualNetwork
from project.public_ids import public_id
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import (
    CableFactory,
    FacilityFactory,
    NetworkInterfaceFactory,
    PlanFactory,
    ServerFactory,
    SwitchFactory,
    SwitchPortFactory,
)
from tests.installs.factories import DeviceFactory, OperatingSystemFactory
from tests.security.dbstate import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbT4c8MjqdCP5Nn5t4VWPC0ko1mAbZbU5IbLQnZ9tN6 probe@example"

# The segment before a URL parameter → which of a tenant's objects it names (see `tenant()` below).
OBJECT_OF = {
    "organizations": "organization", "projects": "project", "devices": "device", "ips": "ip", "ssh-keys": "ssh_key",
    "api-keys": "api_key", "invitations": "invitation", "memberships": "membership", "users": "user", "events": "event",
    "hardware-reservations": "hardware_reservation", "batches": "batch", "spot-market-requests": "spot_request",
    "invoices": "invoice", "api-tokens": "api_key", "sessions": "bgp_session", "virtual-networks": "virtual_network",
    "members": "membership", "ports": "port", "vlan-assignments": "vlan_assignment",
}
# Parameters that are not ids: the value to use.
VALUE_OF = {"action": "power_off", "answer": "accept"}
# Routes (regular expressions on the route) that hold no tenant's data, each with its reason.
NOT_TENANT_DATA = {
    r"^metal/v1/(openapi\.json|docs/)$": "the API's public schema and its viewer",
    r"^metal/v1/(locations/metros|facilities|plans)(/<[^>]+>)?$": "the public catalog (metros, facilities, plans)",
    r"^metal/v1/(operating-systems|operating-system-versions)$": "the public catalog (operating systems)",
    r"^metal/v1/capacity(/metros)?$": "capacity of the public catalog, no tenant's data",
    r"^metal/v1/market/spot/prices(/metros|/history)?$": "the public spot prices",
}
# Writes a read-only member may make: they create or change the member's own things, not the organization's.
OWN_WRITES = {
    ("POST", "metal/v1/ssh-keys"): "a personal SSH key of the member's own",
    ("POST", "metal/v1/user/api-keys"): "a user token of the member's own (read-only or not, it cannot do more than its user)",
    ("POST", "metal/v1/organizations"): "a new organization the member then owns",
    ("POST", "metal/v1/projects"): "a project in an organization of the member's own (created for them when they have none)",
    ("POST", "ssh-keys/add/"): "a personal SSH key of the member's own (portal)",
    ("POST", "api-tokens/create/"): "a user token of the member's own (portal)",
    ("DELETE", "metal/v1/memberships/<uuid:pk>"): "leaving the organization (the fixture's membership is the member's own)",
}
# A body for every write: plausible values for the fields the endpoints read, so a refusal comes from the lookup.
BODY = {"name": "probe", "hostname": "probe", "description": "probe", "label": "probe", "key": SSH_KEY, "type": "public_ipv4",
        "quantity": 1, "cidr": 32, "address": "147.75.0.1/32", "invitee": "probe@example.com", "roles": ["collaborator"],
        "role": "collaborator", "details": "probe", "read_only": False, "remove_devices": True, "devices_max": 1, "devices_min": 1,
        "max_bid_price": 10, "project_id": None, "batches": [], "userdata": "#cloud-config"}
# Bodies for routes that read a different shape (a valid one, so that what refuses is the permission check).
BODY_FOR = {r"/actions$": {"type": "power_off"}}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for item in patterns:
        if isinstance(item, URLResolver):
            yield from _walk(item.url_patterns, prefix + str(item.pattern))
        elif isinstance(item, URLPattern):
            yield prefix + str(item.pattern), item.callback


def _methods(callback: Any) -> list[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        return [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]
    # Function views: the methods a require_http_methods decorator allows, else GET and POST.
    func = callback
    while func is not None:
        allowed = inspect.getclosurevars(func).nonlocals.get("request_method_list") if callable(func) else None
        if allowed:
            return [m.upper() for m in allowed if m.upper() != "HEAD"]
        func = getattr(func, "__wrapped__", None)
    return ["GET", "POST"]


def customer_routes() -> list[tuple[str, str, list[str]]]:
    """(face, route, methods) of every customer endpoint: the API under metal/v1/ and the portal (the rest of the
    public site but the admin, the staff API, login/logout and the health check)."""
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if any(re.search(pattern, route) for pattern in NOT_TENANT_DATA):
            continue
        if route.startswith("metal/v1/"):
            routes.append(("api", route, _methods(callback)))
        elif not route.startswith(("admin/", "api/", "accounts/", "healthz")):
            routes.append(("portal", route, _methods(callback)))
    return routes


PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def fill(route: str, objects: dict[str, str]) -> str:
    """The route with its parameters replaced by the tenant's object ids (pytest.fail names what is missing)."""
    def value(match: re.Match) -> str:
        name = match.group(2)
        if name in VALUE_OF:
            return VALUE_OF[name]
        segment = route[:match.start()].rstrip("/").rsplit("/", 1)[-1]
        kind = OBJECT_OF.get(segment)
        if kind is None:
            pytest.fail(f"{route}: no tenant object for the segment '{segment}'. Add it to OBJECT_OF (and to tenant()), or the route to "
                        "NOT_TENANT_DATA with the reason it holds no tenant's data.")
        # The same object may be named by its public id (the API) or its database key (`<int:…>` in the portal).
        return objects.get(f"{kind}:{match.group(1)}", objects[kind])

    path = "/" + PARAM.sub(value, route)
    # A value of the wrong shape (an int where the route takes a UUID) would make every answer a trivial 404.
    try:
        resolved = resolve(path).route
    except Resolver404:
        resolved = None
    if resolved != route:
        pytest.fail(f"{path} does not resolve to {route} (it resolves to {resolved}): fix the tenant's object for it")
    return path


# ---------------------------------------------------------------------------------------------- the tenants


@pytest.fixture
def world(db):
    facility, plan = FacilityFactory(), PlanFactory()
    os_ = OperatingSystemFactory(plans=[plan])
    supernet = ipam.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)
    pool = ipam.block_create(network="147.75.0.0/24", kind=Kind.POOL, parent=supernet, facility=facility)
    return {"facility": facility, "plan": plan, "os": os_, "vlans": [1001, 1002], "pool": pool, "switch": SwitchFactory(facility=facility)}


# Public ids (project/public_ids.py) of the kinds that have them; a ghost (below) is the same kind's id of no object.
PUBLIC_KINDS = {"ip": "ip", "membership": "membership", "user": "user", "event": "event", "port": "port"}


def ghost(objects: dict[str, str]) -> dict[str, str]:
    """Ids of the same shapes as `objects` that name nothing: an answer that is the same for them does not depend on
    whether the object exists (a 405 a view gives before any lookup), so it tells nothing about B."""
    out = {}
    for kind in objects:
        if ":" in kind:
            out[kind] = "999999999"
        elif kind in PUBLIC_KINDS:
            out[kind] = public_id(PUBLIC_KINDS[kind], 999_999_999)
        else:
            out[kind] = str(uuid.uuid4())
    return out


def tenant(name: str, world: dict[str, Any]) -> dict[str, Any]:
    """An organization with one project and one of everything a customer endpoint can name, and three people: its
    owner, a read-only member, and (for user-level objects) the owner's personal SSH key and tokens."""
    project = ProjectFactory(name=f"{name}-prod", organization__name=f"org-{name}", organization__slug=f"org-{name}")
    org = project.organization
    owner, reader = UserFactory(username=f"{name}-owner"), UserFactory(username=f"{name}-reader")
    accounts.membership_set(user=owner, organization=org, role=Role.OWNER)
    accounts.membership_set(user=reader, organization=org, role=Role.READ_ONLY)
    token, owner_plain = accounts.api_token_create(user=owner)
    _, read_only_plain = accounts.api_token_create(user=owner, read_only=True)
    _, reader_plain = accounts.api_token_create(user=reader)
    accounts.api_token_create(user=owner, project=project)
    server = ServerFactory(facility=world["facility"], plan=world["plan"])
    device = DeviceFactory(project=project, facility=world["facility"], plan=world["plan"], operating_system=world["os"], server=server,
                           state=DeviceState.ACTIVE, hostname=f"{name}-web1")
    reservation = ipam.reservation_create(project=project, facility=world["facility"], quantity=4)
    # The device's server port (a cabled NIC of a server whose addresses name the device): /ports/{id}.
    nic = NetworkInterfaceFactory(server=server, name="eth0")
    CableFactory(interface=nic, port=SwitchPortFactory(switch=world["switch"], name=f"xe-0/0/{len(world['vlans'])}"))
    ipam.block_allocate(parent=world["pool"], prefix_length=31, project=project, server=server, device_id=device.pk,
                        device_label=device.hostname)
    ssh_key = accounts.ssh_key_create(label=f"{name}-key", key=SSH_KEY, project=project)
    accounts.ssh_key_create(label=f"{name}-laptop", key=SSH_KEY, owner=owner)
    invitation = accounts.invitation_create(organization=org, invitee=f"new-{name}@example.com", role=Role.COLLABORATOR, actor=owner)
    reserved = hardware_reservation_create(project=project, server=ServerFactory(facility=world["facility"], plan=world["plan"]),
                                           ends_at=timezone.now() + dt.timedelta(days=30))
    batch = Batch.objects.create(project=project, quantity=1, state="completed")
    spot = SpotMarketRequest.objects.create(project=project, metro=world["facility"].metro, plan=world["plan"], operating_system=world["os"],
                                            hostname=f"{name}-spot", devices_min=1, devices_max=1, max_bid_price=Decimal("1"))
    invoice = Invoice.objects.create(organization=org, number=f"INV-{name}", period_start=dt.date(2026, 10, 1),
                                     period_end=dt.date(2026, 10, 31), currency="USD", amount=Decimal("1"), issued_at=timezone.now(),
                                     due_on=dt.date(2026, 11, 30))
    event = AuditEvent.objects.get(action="accounts.ssh_key.create", target_id=str(ssh_key.pk))  # in the project's event feed
    membership = Membership.objects.get(user=reader, organization=org)
    bgp_session = BgpSession.objects.create(project=project, device_id=device.pk, server=server, address_family="ipv4")
    vlan = VirtualNetwork.objects.create(project=project, metro=world["facility"].metro, vxlan=world["vlans"].pop())
    return {
        "org": org, "project": project, "owner": owner, "reader": reader, "device": device, "owner_token": owner_plain,
        "read_only_token": read_only_plain, "reader_token": reader_plain,
        "objects": {"organization": str(org.pk), "project": str(project.pk), "device": str(device.pk),
                    "ip": public_id("ip", reservation.pk), "ssh_key": str(ssh_key.pk), "api_key": str(token.pk),
                    "invitation": str(invitation.pk), "membership": public_id("membership", membership.pk), "user": public_id("user", owner.pk),
                    "event": public_id("event", event.pk), "hardware_reservation": str(reserved.pk), "batch": str(batch.pk),
                    "spot_request": str(spot.pk), "invoice": str(invoice.pk), "bgp_session": str(bgp_session.pk),
                    "virtual_network": str(vlan.pk), "membership:int": str(membership.pk),
                    "port": public_id("port", nic.pk),
                    # The id the API gives the port's assignment of the tenant's VLAN (uuid5 of the two hrefs' parts).
                    "vlan_assignment": str(uuid.uuid5(uuid.NAMESPACE_URL, f"/metal/v1/ports/{public_id('port', nic.pk)}/vlan-assignments/{vlan.pk}")),
                    "ip:int": str(reservation.pk), "user:int": str(owner.pk), "event:int": str(event.pk)},
    }


@pytest.fixture
def tenants(world):
    return {"a": tenant("a", world), "b": tenant("b", world)}


def api(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def call(client: Any, face: str, method: str, path: str) -> Any:
    if face == "api":
        special = [b for pattern, b in BODY_FOR.items() if re.search(pattern, path)]
        body = json.dumps(special[0] if special else BODY) if method in ("POST", "PUT", "PATCH") else None
        return client.generic(method, path, body, content_type="application/json")
    return client.generic(method, path, "", content_type="application/x-www-form-urlencoded") if method == "POST" else client.get(path)


# ---------------------------------------------------------------------------------------------- the tests


def test_the_generator_finds_every_customer_endpoint() -> None:
    routes = {route for _, route, _ in customer_routes()}
    # A sample the test must always cover; new endpoints join it by themselves.
    for route in ("metal/v1/devices/<uuid:pk>", "metal/v1/projects/<uuid:project_pk>/ips", "metal/v1/ips/<uuid:pk>/assignments",
                  "metal/v1/organizations/<uuid:org_pk>/projects", "devices/<uuid:pk>/<str:action>/", "projects/<uuid:pk>/"):
        assert route in routes
    assert all(methods for _, _, methods in customer_routes())


def test_organization_a_on_organization_bs_ids_gets_404_and_changes_nothing(tenants) -> None:
    a, b = tenants["a"], tenants["b"]
    faces = {"api": api(a["owner_token"]), "portal": browser(a["owner"])}
    nobody = ghost(b["objects"])
    wrong: list[str] = []
    tried = 0
    before = db_fingerprint()
    for face, route, methods in customer_routes():
        if "<" not in route:
            continue
        path = fill(route, b["objects"])
        for method in methods:
            answer = call(faces[face], face, method, path)
            tried += 1
            if answer.status_code == 405 and call(faces[face], face, method, fill(route, nobody)).status_code == 405:
                continue  # refused before any lookup, the same for an id of nothing
            if answer.status_code != 404:
                wrong.append(f"{method} {path} ({route}): {answer.status_code} {answer.content[:200]!r}")
            if method != "GET":
                changed = changed_tables(before, db_fingerprint())
                if changed:
                    wrong.append(f"{method} {path} ({route}) changed {changed}")
                    before = db_fingerprint()
    assert wrong == [], "\n".join(wrong)
    assert tried > 80


def test_lists_organization_a_reads_never_name_organization_bs_objects(tenants) -> None:
    a, b = tenants["a"], tenants["b"]
    faces = {"api": api(a["owner_token"]), "portal": browser(a["owner"])}
    # B's ids as the API shows them (UUIDs, public ids); database keys (`kind:int`) are small numbers found anywhere.
    secrets = {value for kind, value in b["objects"].items() if ":" not in kind}
    leaks = []
    for face, route, methods in customer_routes():
        if "GET" not in methods:
            continue
        path = fill(route, a["objects"])
        answer = call(faces[face], face, "GET", path)
        assert answer.status_code < 500, f"GET {path}: {answer.status_code}"
        body = answer.content.decode(errors="replace")
        found = sorted(s for s in secrets if s in body)
        if found:
            leaks.append(f"GET {path}: names B's {found}")
    assert leaks == [], "\n".join(leaks)


@pytest.mark.parametrize("who", ["read_only_token", "read_only_member"])
def test_read_only_tokens_and_members_cannot_write(tenants, who) -> None:
    a = tenants["a"]
    faces = ({"api": api(a["read_only_token"])} if who == "read_only_token"
             else {"api": api(a["reader_token"]), "portal": browser(a["reader"])})
    wrong: list[str] = []
    before = db_fingerprint()
    for face, route, methods in customer_routes():
        if face not in faces:
            continue
        path = fill(route, a["objects"])
        for method in (m for m in methods if m in WRITES):
            if who == "read_only_member" and (method, route) in OWN_WRITES:
                continue
            answer = call(faces[face], face, method, path)
            # The API refuses (403, or 404 for what the caller cannot see); the portal refuses with a message (a redirect
            # or the page again) — either way, what counts is that nothing changed.
            # (405: a method a view refuses whatever the object, e.g. DELETE on most port actions.)
            ok = answer.status_code in (403, 404, 405) if face == "api" else answer.status_code < 500
            if not ok:
                wrong.append(f"{method} {path}: {answer.status_code} {answer.content[:200]!r}")
            changed = changed_tables(before, db_fingerprint())
            if changed:
                wrong.append(f"{method} {path} changed {changed}")
                before = db_fingerprint()
    assert wrong == [], "\n".join(wrong)


def test_an_owner_browsing_every_api_read_as_html_gets_a_page(tenants) -> None:
    """The API's browsable pages (Accept: text/html) for every GET route with the owner's own ids: never a 500
    (views that read their body with their own serializer once made DRF's generated forms raise)."""
    a = tenants["a"]
    owner = browser(a["owner"])
    broken = []
    for face, route, methods in customer_routes():
        if face != "api" or "GET" not in methods:
            continue
        path = fill(route, a["objects"]) if "<" in route else "/" + route
        answer = owner.get(path, HTTP_ACCEPT="text/html")
        if answer.status_code >= 500:
            broken.append(f"GET {path} ({route}): {answer.status_code}")
    assert broken == [], "\n".join(broken)
