"""Finding 9 of the security review: (a) a staff user's project-scoped token read and wrote the whole staff API
(it created a supernet); (b) a project-scoped token revoked its user's other tokens. A project-scoped token is the
project's: it never reaches the staff API (/api/, the lean IPAM paths included) and manages no tokens. Each attack
is replayed and must be refused (403) with nothing changed."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import APIToken, Role
from apps.ipam import services as ipam
from apps.ipam.models import Kind
from tests.factories import ProjectFactory, UserFactory
from tests.security.dbstate import changed_tables, db_fingerprint

pytestmark = pytest.mark.django_db
REFUSAL = "A project-scoped API token cannot use the staff API (/api/); use a user token."


def client(plaintext: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return api


@pytest.fixture
def staff_with_tokens(db):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    project = ProjectFactory(name="hpc-cluster")
    accounts.membership_set(user=admin, organization=project.organization, role=Role.OWNER)
    user_token, user_plain = accounts.api_token_create(user=admin)
    read_token, read_plain = accounts.api_token_create(user=admin, read_only=True)
    project_token, project_plain = accounts.api_token_create(user=admin, project=project)
    supernet = ipam.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)
    return {"admin": admin, "project": project, "user": client(user_plain), "read_only": client(read_plain), "scoped": client(project_plain),
            "user_token": user_token, "read_token": read_token, "project_token": project_token, "supernet": supernet}


def test_a_project_token_of_a_staff_user_never_reaches_the_staff_api(staff_with_tokens) -> None:
    t = staff_with_tokens
    assert t["user"].get("/api/hardware/servers").status_code == 200  # the same user's user token may
    scoped = t["scoped"]
    before = db_fingerprint()
    reads = ["/api/hardware/servers", "/api/ipam/blocks", f"/api/ipam/blocks/{t['supernet'].pk}/utilisation",
             f"/api/ipam/blocks/{t['supernet'].pk}/free", "/api/ipam/who-held?address=147.75.0.1"]
    for path in reads:
        answer = scoped.get(path)
        assert answer.status_code == 403, (path, answer.content)
        assert answer.json()["errors"] == [REFUSAL]
    writes = [("/api/ipam/blocks", {"network": "10.0.0.0/8", "kind": "supernet"}),
              (f"/api/ipam/blocks/{t['supernet'].pk}/allocate", {"prefix_length": 24, "kind": "pool"})]
    for path, body in writes:
        answer = scoped.post(path, body, format="json")
        assert answer.status_code == 403 and answer.json()["errors"] == [REFUSAL]
    assert scoped.delete(f"/api/ipam/blocks/{t['supernet'].pk}").status_code == 403
    assert changed_tables(before, db_fingerprint()) == []
    # Its own project on the customer API still works.
    assert scoped.get(f"/metal/v1/projects/{t['project'].pk}").status_code == 200


def test_a_project_token_manages_no_tokens(staff_with_tokens) -> None:
    t = staff_with_tokens
    scoped = t["scoped"]
    before = db_fingerprint()
    for token in (t["read_token"], t["user_token"], t["project_token"]):
        for path in (f"/metal/v1/api-keys/{token.pk}", f"/metal/v1/user/api-keys/{token.pk}"):
            answer = scoped.delete(path)
            assert answer.status_code == 403, (path, answer.content)
            assert answer.json()["errors"] == ["A project-scoped API token cannot manage API keys."]
    for path in ("/metal/v1/user/api-keys", f"/metal/v1/projects/{t['project'].pk}/api-keys"):
        assert scoped.get(path).status_code == 403
        assert scoped.post(path, {"description": "escalate"}, format="json").status_code == 403
    assert changed_tables(before, db_fingerprint()) == []
    assert APIToken.objects.filter(revoked_at__isnull=True).count() == 3
    assert t["read_only"].get("/metal/v1/user").status_code == 200  # the review's victim token still works
    # A user token still manages them.
    assert t["user"].delete(f"/metal/v1/api-keys/{t['read_token'].pk}").status_code == 204
