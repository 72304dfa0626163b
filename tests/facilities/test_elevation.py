"""Rack elevations: the SVG of a known rack, and the rack and facility admin pages that show them."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.hardware.elevation import STATE_COLOURS, SWITCH_COLOUR, facility_elevations, rack_elevation_svg
from apps.hardware.models import ServerState
from tests.facilities.factories import FacilityFactory, RackFactory
from tests.hardware.factories import PlanFactory, ServerFactory, SwitchFactory

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def rack():
    rack = RackFactory(facility=FacilityFactory(code="el1"), name="r07", height_u=10)
    ServerFactory(rack=rack, position_u=1, height_u=2, serial="SRV-A", plan=PlanFactory(slug="s3.xlarge.x86"), state=ServerState.ACTIVE)
    ServerFactory(rack=rack, position_u=3, serial="SRV-<B>", plan=PlanFactory(slug="c3.small.x86"), state=ServerState.FAILED)
    SwitchFactory(rack=rack, position_u=10, hostname="el1-r07-sw1", model="qfx5120-48y")
    return rack


def test_svg_of_a_known_rack(rack):
    svg = rack_elevation_svg(rack)
    root = ET.fromstring(svg)  # noqa: S314 - our own output; parsing proves it well-formed and escaped
    assert root.tag == f"{SVG}svg" and root.get("data-rack") == "el1/r07" and root.get("height") == str(24 + 10 * 16 + 8)
    assert "(4/10 U used)" in svg
    links = {a.get("data-u"): a for a in root.iter(f"{SVG}a")}
    assert set(links) == {"1", "3", "10"}
    server_a = links["1"]
    rect = server_a.find(f"{SVG}rect")
    # U1–U2 at the bottom: its top edge is at U2, i.e. 10-2 units below the first row, 2 units tall.
    assert (rect.get("y"), rect.get("height"), rect.get("fill")) == (str(24 + 8 * 16 + 1), str(2 * 16 - 2), STATE_COLOURS[ServerState.ACTIVE])
    assert re.fullmatch(r"/admin/hardware/server/[0-9a-f-]{36}/change/", server_a.get("href"))
    assert "SRV-A" in "".join(server_a.itertext()) and "s3.xlarge.x86 · active" in "".join(server_a.itertext())
    assert links["3"].find(f"{SVG}rect").get("fill") == STATE_COLOURS[ServerState.FAILED]
    assert "SRV-<B>" in "".join(links["3"].itertext()) and "SRV-<B>" not in svg  # escaped in the source
    switch = links["10"]
    assert switch.get("data-kind") == "switch" and switch.find(f"{SVG}rect").get("fill") == SWITCH_COLOUR
    assert switch.find(f"{SVG}rect").get("y") == str(24 + 1)
    assert re.fullmatch(r"/admin/hardware/switch/\d+/change/", switch.get("href"))
    assert len([t for t in root.iter(f"{SVG}text") if (t.text or "").startswith("U") and (t.text or "")[1:].isdigit()]) == 10


def test_facility_elevations_take_a_fixed_number_of_queries(rack):
    for n in range(5):
        other = RackFactory(facility=rack.facility, name=f"x{n}")
        ServerFactory(rack=other, position_u=1)
    with CaptureQueriesContext(connection) as queries:
        pictures = facility_elevations(rack.facility)
    assert len(pictures) == 6 and len(queries.captured_queries) <= 3


def test_rack_and_facility_admin_pages_show_elevations(client, staff_user, rack):
    client.force_login(staff_user)
    page = client.get(reverse("admin:facilities_rack_change", args=[rack.pk]))
    assert page.status_code == 200
    assert b'data-rack="el1/r07"' in page.content and b"el1-r07-sw1" in page.content
    page = client.get(reverse("admin:facilities_facility_change", args=[rack.facility.pk]))
    assert page.status_code == 200 and page.content.count(b'class="rack-elevation"') == 1 and b"SRV-A" in page.content
    assert client.get(reverse("admin:facilities_rack_changelist")).status_code == 200
    assert client.get(reverse("admin:facilities_facility_changelist")).status_code == 200


def test_rack_cannot_shrink_below_its_equipment(client, staff_user, rack):
    client.force_login(staff_user)
    page = client.post(reverse("admin:facilities_rack_change", args=[rack.pk]),
                       {"name": "r07", "height_u": 8, "power_budget_watts": 8000})
    assert page.status_code == 200 and b"has equipment up to U10" in page.content
    rack.refresh_from_db()
    assert rack.height_u == 10
