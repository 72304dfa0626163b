"""The conventions every /metal/v1/ answer follows: relative pagination links, JSON errors for every status
(unknown route, wrong method), repeated slashes, exclude=, UUID ids whose hrefs resolve, two trees."""
from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from project.public_ids import key_of, public_id
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(rack):
    user = UserFactory(email="c@example.com")
    org = accounts.organization_create(name="Conv", slug="conv", owner=user)
    for name in ("a", "b", "c"):
        accounts.project_create(organization=org, name=name)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=accounts.api_token_create(user=user)[1])
    return client


def test_pagination_meta_has_every_link_relative(api) -> None:
    meta = api.get("/metal/v1/projects?per_page=1&page=2&name=").json()["meta"]
    assert meta["current_page"] == 2 and meta["last_page"] == 3 and meta["total"] == 3
    for name, page in (("first", 1), ("previous", 1), ("self", 2), ("next", 3), ("last", 3)):
        assert meta[name]["href"].startswith("/metal/v1/projects?") and f"page={page}" in meta[name]["href"]
        assert "per_page=1" in meta[name]["href"]
    assert api.get(meta["next"]["href"]).json()["meta"]["current_page"] == 3


def test_errors_are_json_for_every_status(api) -> None:
    for path, status in (("/metal/v1/nothing-here", 404), ("/metal/v1/projects/not-a-uuid", 404), ("/api/nothing", 404)):
        answer = api.get(path)
        assert answer.status_code == status and answer["Content-Type"] == "application/json" and answer.json()["errors"]
    wrong = api.patch("/metal/v1/plans")
    assert wrong.status_code == 405 and wrong.json()["errors"]
    assert APIClient().get("/metal/v1/projects").json()["errors"]  # 401
    assert api.options("/metal/v1/projects").status_code == 200


def test_repeated_slashes_and_case(api, rack) -> None:
    assert api.get("/metal/v1//projects").status_code == 200
    assert api.get("/metal/v1///locations//metros").status_code == 200
    slug = rack["plan"].slug.upper()
    assert [p["slug"] for p in api.get(f"/metal/v1/plans?slug={slug}").json()["plans"]] == [rack["plan"].slug]


def test_ids_are_uuids_whose_hrefs_resolve(api, rack) -> None:
    metro = api.get("/metal/v1/locations/metros").json()["metros"][0]
    assert key_of("metro", metro["id"]) == rack["facility"].metro_id
    assert api.get(metro["href"]).json()["id"] == metro["id"]
    assert key_of("facility", metro["id"]) is None  # one kind's id never resolves as another's
    assert api.get(f"/metal/v1/facilities/{metro['id']}").status_code == 404
    assert api.get(f"/metal/v1/facilities/{public_id('facility', rack['facility'].pk)}").json()["code"] == rack["facility"].code
    user = api.get("/metal/v1/user").json()
    assert api.get(user["href"]).json()["id"] == user["id"]


def test_exclude_shrinks_nested_objects_to_hrefs(api) -> None:
    project = api.get("/metal/v1/projects?per_page=1").json()["projects"][0]
    assert set(project["organization"]) == {"id", "href"}
    shrunk = api.get("/metal/v1/projects?per_page=1&exclude=organization").json()["projects"][0]
    assert shrunk["organization"] == {"href": project["organization"]["href"]}
    one = api.get(f"/metal/v1/projects/{project['id']}?exclude=organization,bgp_config").json()
    assert one["organization"] == {"href": project["organization"]["href"]} and list(one["bgp_config"]) == ["href"]


def test_customer_routes_are_not_under_the_staff_tree(api) -> None:
    assert api.get("/api/projects").status_code == 404
    assert api.get("/metal/v1/hardware/servers").status_code == 404
    assert api.get("/metal/v1/openapi.json").json()["openapi"].startswith("3.")


def test_timestamps_as_the_real_service_writes_them(api, rack) -> None:
    """RFC 3339, UTC, whole seconds, Z — from DRF fields, raw datetimes and the strings the serializers build."""
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    project = api.get("/metal/v1/projects?per_page=1").json()["projects"][0]
    device = api.post(f"/metal/v1/projects/{project['id']}/devices", {"metro": rack["facility"].metro.code, "plan": rack["plan"].slug,
                                                                      "operating_system": rack["os"].slug}, format="json").json()
    key = api.post("/metal/v1/ssh-keys", {"label": "k", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl k"},
                   format="json").json()
    events = api.get(f"/metal/v1/projects/{project['id']}/events").json()["events"]
    stamps = [project["created_at"], project["updated_at"], device["created_at"], device["updated_at"], key["created_at"],
              *(e["created_at"] for e in events)]
    assert events and all(stamp.match(s) for s in stamps), stamps
