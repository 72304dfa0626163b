"""Which SSH keys go on a device: one rule (`device_ssh_keys`, called by `device_create`), the real service's.
The listed keys when any `*_ssh_keys` field is given, none with `no_ssh_keys`, otherwise the project's keys and
the personal keys of the members who may change the device (not read-only members). The API, a batch order and
the portal all order through `device_create`, so they write the same keys."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.accounts.selectors import device_ssh_keys
from apps.installs.models import Device
from project.public_ids import public_id
from tests.factories import ProjectFactory, UserFactory
from tests.installs.conftest import make_server

pytestmark = pytest.mark.django_db


def _public_key(comment: str) -> str:
    body = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                          serialization.PublicFormat.OpenSSH).decode()
    return f"{body} {comment}\n"  # with the trailing newline a file gives: stored and written as sent


@pytest.fixture
def team(rack):
    """A project of an organization, its members in every role (through the organization or the project) with a
    personal key each, a project key, and people and keys outside it."""
    project = ProjectFactory(name="web")
    org = project.organization
    other = ProjectFactory(name="elsewhere", organization=org)
    people = {}
    for name, role, where in (("owner", Role.OWNER, "org"), ("org_collaborator", Role.COLLABORATOR, "org"),
                              ("org_reader", Role.READ_ONLY, "org"), ("project_admin", Role.ADMIN, "project"),
                              ("project_reader", Role.READ_ONLY, "project"), ("reader_but_collaborator", Role.READ_ONLY, "org"),
                              ("other_project", Role.COLLABORATOR, "other"), ("stranger", None, None)):
        user = UserFactory(username=name)
        if where == "org":
            accounts.membership_set(user=user, organization=org, role=role)
        elif where == "project":
            accounts.membership_set(user=user, project=project, role=role)
        elif where == "other":
            accounts.membership_set(user=user, project=other, role=role)
        people[name] = user
    # Read-only in the organization, collaborator in the project: the higher role counts.
    accounts.membership_set(user=people["reader_but_collaborator"], project=project, role=Role.COLLABORATOR)
    keys = {name: accounts.ssh_key_create(label=name, key=_public_key(name), owner=user) for name, user in people.items()}
    keys["project"] = accounts.ssh_key_create(label="deploy", key=_public_key("deploy"), project=project)
    keys["other_project_key"] = accounts.ssh_key_create(label="other", key=_public_key("other"), project=other)
    for index in range(3, 6):  # six orders wait for a server at once below
        make_server(rack["facility"], rack["plan"], switch=rack["switch"], index=index)
    return {"project": project, "people": people, "keys": keys, **rack}


def texts(team, *names: str) -> list[str]:
    return [team["keys"][name].key for name in names]


WRITERS = ("owner", "org_collaborator", "project_admin", "reader_but_collaborator")


def test_by_default_the_project_keys_and_the_keys_of_members_who_may_change_the_device(team) -> None:
    chosen = device_ssh_keys(project=team["project"])
    assert sorted(chosen) == sorted(texts(team, "project", *WRITERS))
    for outside in ("org_reader", "project_reader", "other_project", "stranger", "other_project_key"):
        assert team["keys"][outside].key not in chosen, outside
    # Empty lists are "not given" (packet-python sends [] for each by default).
    assert device_ssh_keys(project=team["project"], project_ssh_keys=[], user_ssh_keys=[], ssh_keys=[]) == chosen


def test_a_member_who_loses_write_access_loses_the_default(team) -> None:
    accounts.membership_set(user=team["people"]["org_collaborator"], organization=team["project"].organization, role=Role.READ_ONLY)
    assert team["keys"]["org_collaborator"].key not in device_ssh_keys(project=team["project"])


def test_no_ssh_keys_means_none_whatever_else_is_given(team) -> None:
    assert device_ssh_keys(project=team["project"], no_ssh_keys=True) == []
    assert device_ssh_keys(project=team["project"], no_ssh_keys=True, ssh_keys=["ssh-ed25519 AAAA x"],
                           project_ssh_keys=[str(team["keys"]["project"].pk)]) == []


@pytest.mark.parametrize(("given", "expected"), [
    ({"project_ssh_keys": ["project"]}, ["project"]),
    ({"user_ssh_keys": ["user:org_collaborator"]}, ["org_collaborator"]),
    # The specification's user_ssh_keys are members' user ids, read-only members included (the orderer chose them).
    ({"user_ssh_keys": ["user:org_reader", "user:project_admin"]}, ["org_reader", "project_admin"]),
    # A member's key id is taken too.
    ({"user_ssh_keys": ["project_reader"]}, ["project_reader"]),
    ({"ssh_keys": ["text"]}, ["text"]),
    ({"project_ssh_keys": ["project"], "user_ssh_keys": ["user:owner"], "ssh_keys": ["text"]}, ["project", "owner", "text"]),
])
def test_listed_keys_are_exactly_those(team, given, expected) -> None:
    text = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl listed\n"

    def resolve(field: str, value: str) -> str:
        if value == "text":
            return text
        if value.startswith("user:"):
            return public_id("user", team["people"][value[5:]].pk)
        return str(team["keys"][value].pk)

    arguments = {field: [resolve(field, v) for v in values] for field, values in given.items()}
    wanted = [text if name == "text" else team["keys"][name].key for name in expected]
    assert device_ssh_keys(project=team["project"], **arguments) == wanted


@pytest.mark.parametrize(("field", "value"), [
    ("project_ssh_keys", "other_project_key"),  # another project's key
    ("project_ssh_keys", "owner"),  # a personal key is not a project key
    ("user_ssh_keys", "user:stranger"),  # not a member
    ("user_ssh_keys", "user:other_project"),  # a member of another project of the organization only
    ("user_ssh_keys", "stranger"),  # a non-member's key
    ("user_ssh_keys", "not-a-uuid"),
])
def test_ids_that_name_no_such_key_or_member_are_a_field_error(team, field, value) -> None:
    if value.startswith("user:"):
        value = public_id("user", team["people"][value[5:]].pk)
    elif value in team["keys"]:
        value = str(team["keys"][value].pk)
    with pytest.raises(ValidationError) as error:
        device_ssh_keys(project=team["project"], **{field: [value]})
    assert field in error.value.message_dict


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=accounts.api_token_create(user=user)[1])
    return client


def test_api_batch_and_portal_orders_write_the_same_keys(team) -> None:
    project, collaborator = team["project"], team["people"]["org_collaborator"]
    order = {"plan": team["plan"].slug, "operating_system": team["os"].slug, "metro": team["facility"].metro.code}
    api = _api(collaborator)
    by_api = api.post(f"/metal/v1/projects/{project.pk}/devices", {**order, "hostname": "api1", "tags": {}}, format="json")
    assert by_api.status_code == 201, by_api.json()
    batch = api.post(f"/metal/v1/projects/{project.pk}/devices/batch", {"batches": [{**order, "hostnames": ["batch1"], "quantity": 1}]},
                     format="json")
    assert batch.status_code == 201, batch.json()
    portal = Client()
    portal.force_login(collaborator)
    assert portal.post(f"/projects/{project.pk}/devices/", {**order, "hostname": "portal1"}).status_code == 302
    expected = device_ssh_keys(project=project)
    assert sorted(expected) == sorted(texts(team, "project", *WRITERS))
    for hostname in ("api1", "batch1", "portal1"):
        assert Device.objects.get(hostname=hostname).ssh_keys == expected, hostname

    # With fields, the API and a batch agree too.
    listed = {"user_ssh_keys": [public_id("user", team["people"]["owner"].pk)], "project_ssh_keys": [str(team["keys"]["project"].pk)]}
    assert api.post(f"/metal/v1/projects/{project.pk}/devices", {**order, "hostname": "api2", **listed}, format="json").status_code == 201
    assert api.post(f"/metal/v1/projects/{project.pk}/devices/batch",
                    {"batches": [{**order, "hostnames": ["batch2"], "quantity": 1, **listed}]}, format="json").status_code == 201
    assert api.post(f"/metal/v1/projects/{project.pk}/devices", {**order, "hostname": "api3", "no_ssh_keys": True},
                    format="json").status_code == 201
    assert Device.objects.get(hostname="api2").ssh_keys == Device.objects.get(hostname="batch2").ssh_keys == texts(team, "project", "owner")
    assert Device.objects.get(hostname="api3").ssh_keys == []
    # GET /devices/{id}/ssh-keys lists the key objects written to it.
    listed_back = api.get(f"/metal/v1/devices/{Device.objects.get(hostname='api2').pk}/ssh-keys").json()["ssh_keys"]
    assert sorted(k["id"] for k in listed_back) == sorted(str(team["keys"][n].pk) for n in ("project", "owner"))


def test_a_bad_id_is_a_422_and_orders_nothing(team) -> None:
    project = team["project"]
    api = _api(team["people"]["owner"])
    response = api.post(f"/metal/v1/projects/{project.pk}/devices", {
        "plan": team["plan"].slug, "operating_system": team["os"].slug, "metro": team["facility"].metro.code, "hostname": "bad",
        "user_ssh_keys": [public_id("user", team["people"]["stranger"].pk)]}, format="json")
    assert response.status_code == 422 and "user_ssh_keys" in response.json()["fields"]
    assert not Device.objects.filter(project=project).exists()
