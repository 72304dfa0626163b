"""The lean device reads (apps/installs/api/lean.py) answer exactly as the DRF views they stand in front of:
the same bytes and headers for devices of every kind, the same refusals, and anything that is not the plain
case handed to the DRF view. A device-list page costs the same statements whatever `per_page` is."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.accounts.throttling import _keys
from apps.hardware.models import NetworkInterface
from apps.installs.custom_ipxe import custom_ipxe_operating_system
from apps.installs.models import EVENT_TYPES, Device, DeviceState, Install, InstallEvent
from apps.ipam import services as ipam
from apps.network.models import PortLayer
from tests.factories import ProjectFactory, UserFactory
from tests.installs.factories import DeviceFactory

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="the lean reads are PostgreSQL's; elsewhere the DRF view answers")]


def token_client(user, **token_kwargs) -> APIClient:  # noqa: ANN001
    _, plaintext = accounts.api_token_create(user=user, **token_kwargs)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client


def drf_client(user) -> APIClient:  # noqa: ANN001
    """A session, not a token: the lean views hand it to the DRF view."""
    client = APIClient()
    client.force_login(user)
    return client


def timeline(device: Device, *, kind: str = "provision", state: str = "succeeded", events: int = len(EVENT_TYPES),
             started: dt.datetime | None = None) -> Install:
    started = started or timezone.now() - dt.timedelta(hours=1)
    install = Install.objects.create(device=device, kind=kind, state=state, operating_system=device.operating_system)
    Install.objects.filter(pk=install.pk).update(created_at=started)
    for k, (event_type, (label, _)) in enumerate(list(EVENT_TYPES.items())[:events]):
        InstallEvent.objects.create(install=install, type=event_type, body=label,
                                    created_at=started + dt.timedelta(seconds=k * 7.1234567, microseconds=k))
    return install


@pytest.fixture
def fleet(rack):
    """Devices of every kind a page shows: on a server (cabled ports, three addresses and one from a reservation),
    spot, locked, custom iPXE, by metro only, failed, every state; one deleted."""
    project = ProjectFactory(name="fleet")
    alice = UserFactory(username="alice")
    accounts.membership_set(user=alice, organization=project.organization, role=Role.OWNER)
    plan, os_, facility, servers = rack["plan"], rack["os"], rack["facility"], rack["servers"]
    common = {"project": project, "plan": plan, "operating_system": os_}
    on_server = DeviceFactory(**common, hostname="web-ünï", facility=facility, server=servers[0], state=DeviceState.ACTIVE,
                              tags=["web", "frönt"], userdata="#!/bin/sh\necho 'hi'\u2028\n", customdata={"a": [1, 2.5, None, "é"], "b": {}},
                              locked=True, description="the front door\u2029", ssh_keys=["ssh-ed25519 AAAA test"], created_by=alice)
    ipam.server_addresses_assign(server=servers[0], project=project, device_id=on_server.pk, device_label=on_server.hostname)
    reservation = ipam.reservation_create(project=project, quantity=4, facility=facility, tags=["r"], customdata={"k": "v"})
    ipam.assignment_create(parent=reservation, network=f"{reservation.network.split('/')[0]}/32", project=project,
                           device_id=on_server.pk, device_label=on_server.hostname, description="extra")
    timeline(on_server, started=timezone.now() - dt.timedelta(days=2), events=3)  # an older run: not shown
    timeline(on_server)
    spot = DeviceFactory(**common, hostname="spot", metro=facility.metro, spot_instance=True, spot_price_max=Decimal("0.1234"),
                         termination_time=timezone.now() + dt.timedelta(hours=2), state=DeviceState.PROVISIONING)
    timeline(spot, state="running", events=4)
    ipxe = DeviceFactory(**{**common, "operating_system": custom_ipxe_operating_system()}, hostname="ipxe", facility=facility,
                         ipxe_script_url="https://boot.example/ipxe", always_pxe=True, state=DeviceState.FAILED,
                         failure_reason="the script did not load", billing_cycle="monthly")
    timeline(ipxe, kind="reinstall", state="failed", events=2)
    # bond0 in Layer 2: its addresses stay in IPAM and the real service shows none.
    layer2 = DeviceFactory(**common, hostname="l2", facility=facility, server=servers[2], state=DeviceState.ACTIVE)
    ipam.server_addresses_assign(server=servers[2], project=project, device_id=layer2.pk, device_label=layer2.hostname)
    PortLayer.objects.create(interface=NetworkInterface.objects.get(server=servers[2]), device_id=layer2.pk, layer2=True)
    others = [DeviceFactory(**common, hostname=f"s-{state}", facility=facility, state=state)
              for state in DeviceState.values if state not in (DeviceState.DELETED,)]
    deleted = DeviceFactory(**common, hostname="gone", facility=facility, state=DeviceState.DELETED)
    return {"project": project, "alice": alice, "devices": [on_server, spot, ipxe, layer2, *others], "deleted": deleted, **rack}


def same(lean, drf, path: str) -> None:  # noqa: ANN001
    a, b = lean.get(path), drf.get(path)
    assert (a.status_code, a.content) == (b.status_code, b.content), path
    for header in ("Content-Type", "Allow", "Vary"):
        assert a.get(header) == b.get(header), (path, header)


def test_device_reads_are_the_drf_views_bytes(fleet):
    lean, drf = token_client(fleet["alice"]), drf_client(fleet["alice"])
    for device in fleet["devices"]:
        same(lean, drf, f"/metal/v1/devices/{device.pk}")
    shown = lean.get(f"/metal/v1/devices/{fleet['devices'][0].pk}").json()
    assert len(shown["ip_addresses"]) == 4 and shown["network_ports"] and shown["provisioning_percentage"] == 100
    assert shown["ip_addresses"][0]["parent_block"]["href"]  # the reservation's address (a pool's href is empty)
    in_layer2 = lean.get(f"/metal/v1/devices/{fleet['devices'][3].pk}").json()
    assert in_layer2["ip_addresses"] == [] and in_layer2["network_ports"][0]["network_type"].startswith("layer2")
    project = fleet["project"].pk
    for query in ("", "?per_page=3", "?per_page=3&page=2", "?page=1&per_page=4", "?per_page=5&page=4", "?per_page=1000",
                  "?per_page=5000", "?page=1"):
        same(lean, drf, f"/metal/v1/projects/{project}/devices{query}")
    listed = lean.get(f"/metal/v1/projects/{project}/devices?per_page=100").json()
    assert listed["meta"]["total"] == len(fleet["devices"]) == len(listed["devices"])
    assert {d["state"] for d in listed["devices"]} == set(DeviceState.values) - {"deleted"}


def test_the_plain_case_takes_the_lean_path(fleet):
    lean = token_client(fleet["alice"])
    device = fleet["devices"][0]
    lean.get(f"/metal/v1/devices/{device.pk}")  # the token's last_used_at is written once a minute; not in the counts below
    with CaptureQueriesContext(connection) as queries:
        assert lean.get(f"/metal/v1/devices/{device.pk}").status_code == 200
    # The token, the device with its catalog rows, its run and events, its addresses, its ports (a NIC and its VLANs).
    assert len(queries) <= 6, [q["sql"][:80] for q in queries.captured_queries]
    with CaptureQueriesContext(connection) as drf_queries:
        drf_client(fleet["alice"]).get(f"/metal/v1/devices/{device.pk}")
    assert len(drf_queries) > len(queries)


def test_a_list_page_costs_the_same_statements_whatever_per_page_is(rack):
    project = ProjectFactory(name="many")
    owner = UserFactory(username="owner")
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    metro_only = {"project": project, "plan": rack["plan"], "operating_system": rack["os"], "metro": rack["facility"].metro}
    for i in range(24):
        device = DeviceFactory(**metro_only, hostname=f"d{i}", state=DeviceState.ACTIVE, tags=[f"t{i}"])
        timeline(device, events=3)
        ipam.block_allocate_from_pools(family=4, public=True, prefix_length=31, facility=rack["facility"], project=project,
                                       device_id=device.pk, device_label=device.hostname)
    lean, drf = token_client(owner), drf_client(owner)
    counts = {}
    for per_page in (10, 100):
        url = f"/metal/v1/projects/{project.pk}/devices?per_page={per_page}"
        lean.get(url)
        with CaptureQueriesContext(connection) as queries:
            answer = lean.get(url)
        counts[per_page] = len(queries)
        assert len(answer.json()["devices"]) == min(per_page, 24)
        same(lean, drf, url)
    assert counts[10] == counts[100] == 4, counts  # the token, the page, the runs with their events, the addresses


def test_refusals_and_everything_not_plain_are_the_drf_views_answers(fleet):
    lean, drf = token_client(fleet["alice"]), drf_client(fleet["alice"])
    project, device = fleet["project"].pk, fleet["devices"][0].pk
    # Filters, include/exclude, pages out of range, odd numbers: the DRF view answers (the same as for a session).
    for query in ("?exclude=ip_addresses,plan", "?state=active", "?hostname=spot", "?search=web", "?page=9", "?page=0", "?page=last",
                  "?per_page=0", "?per_page=abc", "?per_page=3&per_page=4", "?format=json"):
        same(lean, drf, f"/metal/v1/projects/{project}/devices{query}")
    shrunk = {d["id"]: d for d in lean.get(f"/metal/v1/projects/{project}/devices?exclude=ip_addresses").json()["devices"]}
    assert shrunk[str(device)]["ip_addresses"][0].keys() == {"href"}
    same(lean, drf, f"/metal/v1/devices/{device}?exclude=ip_addresses")
    assert lean.get(f"/metal/v1/devices/{fleet['deleted'].pk}").status_code == 404

    # Another tenant: 404 for the device and its project; an empty project of one's own: an empty page.
    stranger = UserFactory(username="mallory")
    accounts.membership_set(user=stranger, organization=ProjectFactory(name="theirs").organization, role=Role.OWNER)
    theirs = token_client(stranger)
    assert theirs.get(f"/metal/v1/devices/{device}").status_code == 404
    refused = theirs.get(f"/metal/v1/projects/{project}/devices")
    assert refused.status_code == 404 and refused.json()["errors"]
    empty = ProjectFactory(name="empty", organization=fleet["project"].organization)
    assert lean.get(f"/metal/v1/projects/{empty.pk}/devices").json()["meta"]["total"] == 0

    # Read-only and project-scoped tokens read; a token scoped to another project does not see this one.
    assert token_client(fleet["alice"], read_only=True).get(f"/metal/v1/devices/{device}").status_code == 200
    assert token_client(fleet["alice"], project=empty).get(f"/metal/v1/devices/{device}").status_code == 404
    assert token_client(fleet["alice"], project=fleet["project"]).get(f"/metal/v1/projects/{project}/devices").status_code == 200

    # A wrong token: 401 from the DRF view, counted once against the address's rate; no token: 401 too.
    bad = APIClient()
    bad.credentials(HTTP_X_AUTH_TOKEN="not-a-token")
    count_key, _ = _keys("api_address", "127.0.0.1")
    before = cache.get(count_key) or 0
    answer = bad.get(f"/metal/v1/devices/{device}")
    assert answer.status_code == 401 and answer.json() == {"errors": ["Invalid, revoked or unknown API token."]}
    assert cache.get(count_key) == before + 1
    assert APIClient().get(f"/metal/v1/projects/{project}/devices").status_code in (401, 403)
    # Any other Accept header is the DRF view's content negotiation (here: JSON indented as asked).
    indented = lean.get(f"/metal/v1/devices/{device}", HTTP_ACCEPT="application/json; indent=2")
    assert indented.content.startswith(b'{\n  "id"')
    assert indented.content == drf.get(f"/metal/v1/devices/{device}", HTTP_ACCEPT="application/json; indent=2").content


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_reads_answer_the_same(rack):
    """Under gunicorn there is no test transaction around a request: the same bytes there too."""
    project = ProjectFactory(name="tx")
    owner = UserFactory(username="owner-tx")
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    device = DeviceFactory(project=project, plan=rack["plan"], operating_system=rack["os"], facility=rack["facility"],
                           server=rack["servers"][1], state=DeviceState.ACTIVE)
    ipam.server_addresses_assign(server=rack["servers"][1], project=project, device_id=device.pk, device_label=device.hostname)
    timeline(device)
    lean, drf = token_client(owner), drf_client(owner)
    same(lean, drf, f"/metal/v1/devices/{device.pk}")
    same(lean, drf, f"/metal/v1/projects/{project.pk}/devices?per_page=10")


def test_event_json_written_by_postgresql_is_the_drf_views(rack):
    """The events' JSON is written by PostgreSQL (to_json, the took_seconds arithmetic): the same bytes as the DRF view's
    for bodies with every character JSON escapes and for gaps on and around a rounding tie (…500 µs, which Python
    rounds by the float's binary value), negative gaps (an event stamped before its run) and long ones."""
    project = ProjectFactory(name="events")
    owner = UserFactory(username="owner-events")
    accounts.membership_set(user=owner, organization=project.organization, role=Role.OWNER)
    started = timezone.now().replace(microsecond=0) - dt.timedelta(days=3)
    gaps_us = [-1_500_000, -400, -500, 0, 499, 500, 501, 1_500, 2_500, 1_000_500, 1_002_500, 7_123_457, 86_400_000_000 * 2 + 500,
               100, 1_000_000, 3_000_000_000]
    bodies = ['say "hi"', "back\\slash", "line\nbreak\ttab\rret", "ctl \x01\x08\x0c\x1f end", "é ünï 中文 \U0001F600",
              "sep \u2028 \u2029", "del \x7f", "</script>", "", "plain"]
    devices = []
    for d in range(3):
        device = DeviceFactory(project=project, plan=rack["plan"], operating_system=rack["os"], metro=rack["facility"].metro,
                               hostname=f"ev{d}", state=DeviceState.PROVISIONING)
        install = Install.objects.create(device=device, kind="provision", state="running", operating_system=device.operating_system)
        Install.objects.filter(pk=install.pk).update(created_at=started)
        at = started
        for k, gap in enumerate(gaps_us[d::2] if d < 2 else gaps_us):
            at = at + dt.timedelta(microseconds=gap)
            InstallEvent.objects.create(install=install, type=list(EVENT_TYPES)[k % len(EVENT_TYPES)] if k % 4 else "provisioning.failed",
                                        body=bodies[k % len(bodies)], created_at=at)
        devices.append(device)
    lean, drf = token_client(owner), drf_client(owner)
    for device in devices:
        same(lean, drf, f"/metal/v1/devices/{device.pk}")
    same(lean, drf, f"/metal/v1/projects/{project.pk}/devices?per_page=10")
    took = [e["took_seconds"] for e in lean.get(f"/metal/v1/devices/{devices[2].pk}").json()["provisioning_events"]]
    assert took[0] < 0 and {0.0, 0.001, 0.002, 0.003, 1.0, 1.002, 7.123, 172800.0, 3000.0} <= set(took)  # the cases are there
