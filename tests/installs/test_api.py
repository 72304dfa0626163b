"""The customer Device API in Equinix Metal v1 shapes: ordering, listing, tenancy and errors.
(The workflow behind an order is covered by test_workflow.py; here orders stay queued.)"""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs.models import Device, Install
from tests.factories import ProjectFactory, UserFactory
from tests.installs.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def client_for(user, **token_kwargs) -> APIClient:  # noqa: ANN001
    _, plaintext = accounts.api_token_create(user=user, **token_kwargs)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client


@pytest.fixture
def tenants(rack):
    mine, theirs = ProjectFactory(name="mine"), ProjectFactory(name="theirs")
    alice, mallory, reader = UserFactory(username="alice"), UserFactory(username="mallory"), UserFactory(username="reader")
    accounts.membership_set(user=alice, organization=mine.organization, role=Role.OWNER)
    accounts.membership_set(user=reader, organization=mine.organization, role=Role.READ_ONLY)
    accounts.membership_set(user=mallory, organization=theirs.organization, role=Role.OWNER)
    return {"mine": mine, "theirs": theirs, "alice": alice, "mallory": mallory, "reader": reader, **rack}


def body(t, **over):
    return {"hostname": "web1", "plan": t["plan"].slug, "facility": t["facility"].code, "operating_system": t["os"].slug, **over}


@pytest.mark.parametrize("base", ["/metal/v1"])
def test_order_a_device_and_read_it_back(tenants, base) -> None:
    client = client_for(tenants["alice"])
    answer = client.post(f"{base}/projects/{tenants['mine'].pk}/devices", body(tenants, tags=["web"]), format="json")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["state"] == "queued" and data["hostname"] == "web1" and data["tags"] == ["web"]
    assert data["plan"]["slug"] == tenants["plan"].slug and data["operating_system"]["slug"] == tenants["os"].slug
    assert data["facility"]["code"] == tenants["facility"].code and data["metro"]["code"] == tenants["facility"].metro.code
    assert data["provisioning_percentage"] == 0 and data["href"] == f"/metal/v1/devices/{data['id']}"
    assert Install.objects.filter(device_id=data["id"], kind="provision").exists()
    listed = client.get(f"{base}/projects/{tenants['mine'].pk}/devices").json()
    assert [d["id"] for d in listed["devices"]] == [data["id"]] and listed["meta"]["total"] == 1
    assert client.get(f"{base}/devices/{data['id']}").json()["id"] == data["id"]


def test_another_tenants_device_is_not_found(tenants) -> None:
    theirs = DeviceFactory(project=tenants["theirs"], facility=tenants["facility"], plan=tenants["plan"])
    client = client_for(tenants["alice"])
    assert client.get(f"/metal/v1/devices/{theirs.pk}").status_code == 404
    assert client.delete(f"/metal/v1/devices/{theirs.pk}").status_code == 404
    assert client.post(f"/metal/v1/devices/{theirs.pk}/actions", {"type": "reinstall"}, format="json").status_code == 404
    assert client.get(f"/metal/v1/projects/{tenants['theirs'].pk}/devices").status_code == 404
    assert client.post(f"/metal/v1/projects/{tenants['theirs'].pk}/devices", body(tenants), format="json").status_code == 404
    assert Device.objects.count() == 1


def test_read_only_members_cannot_order(tenants) -> None:
    answer = client_for(tenants["reader"]).post(f"/metal/v1/projects/{tenants['mine'].pk}/devices", body(tenants), format="json")
    assert answer.status_code == 403
    assert not Device.objects.exists()


def test_orders_that_cannot_be_met_are_refused_with_the_reason(tenants) -> None:
    client = client_for(tenants["alice"])
    url = f"/metal/v1/projects/{tenants['mine'].pk}/devices"
    unknown = client.post(url, body(tenants, plan="no.such.plan"), format="json")
    assert unknown.status_code == 422 and "plan" in unknown.json()["fields"]
    nowhere = client.post(url, {k: v for k, v in body(tenants).items() if k != "facility"}, format="json")
    assert nowhere.status_code == 422
    for server in tenants["servers"]:
        type(server).objects.filter(pk=server.pk).update(state="maintenance")
    full = client.post(url, body(tenants), format="json")
    assert full.status_code == 422 and "No " in " ".join(full.json()["errors"]) and "available" in " ".join(full.json()["errors"])
    assert not Device.objects.exists()


def test_operating_systems_list_the_plans_they_go_on(tenants) -> None:
    data = client_for(tenants["alice"]).get("/metal/v1/operating-systems").json()
    entry = next(o for o in data["operating_systems"] if o["slug"] == tenants["os"].slug)
    assert entry["provisionable_on"] == [tenants["plan"].slug]
