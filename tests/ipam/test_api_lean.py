"""The lean views of the staff IPAM API's hot endpoints answer exactly as the DRF views they stand in
front of: same bodies, same audit, and every case that is not the plain one handed to the DRF view
(so its errors and status codes are the DRF view's own)."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.audit.models import AuditEvent
from apps.ipam import services
from apps.ipam.models import Block, Kind
from tests.factories import UserFactory


def token_client(user, **token_kwargs) -> tuple[APIClient, object]:  # noqa: ANN001
    token, plaintext = accounts.api_token_create(user=user, **token_kwargs)
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=plaintext)
    return client, token


def drf_client(user) -> APIClient:  # noqa: ANN001
    """A session, not a token: the lean views hand it to the DRF view."""
    client = APIClient()
    client.force_login(user)
    return client


def test_reads_are_the_same_as_the_drf_views(staff_user, pool4):
    services.block_allocate(parent=pool4, prefix_length=31, device_label="sw1")
    services.block_create(network="147.75.0.64/26", kind=Kind.ASSIGNMENT, parent=pool4)
    lean, _ = token_client(staff_user)
    drf = drf_client(staff_user)
    for path in (f"/api/ipam/blocks/{pool4.pk}/free?per_page=2", f"/api/ipam/blocks/{pool4.pk}/free?per_page=3&start=147.75.0.70",
                 f"/api/ipam/blocks/{pool4.pk}/utilisation", "/api/ipam/who-held?address=147.75.0.1&at=2099-01-01T00:00:00Z"):
        a, b = lean.get(path), drf.get(path)
        assert (a.status_code, a["Content-Type"], a.content) == (b.status_code, b["Content-Type"], b.content), path


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement allocation is PostgreSQL's")
def test_a_token_allocation_takes_the_lean_path_with_the_same_body_and_audit(staff_user, pool4):
    lean, token = token_client(staff_user)
    lean.get(f"/api/ipam/blocks/{pool4.pk}/free")  # the token's last_used_at is written once a minute; not in the count below
    with CaptureQueriesContext(connection) as queries:
        made = lean.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31, "device_label": " sw1 "}, format="json")
    assert made.status_code == 201
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's transaction
    assert len(statements) == 2 and "ipam_allocate" in statements[1]  # the token and the allocation: no DRF view ran
    body = made.json()
    block = Block.objects.get(pk=body["id"])
    drf_made = drf_client(staff_user).post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31, "device_label": "sw1"},
                                           format="json").json()
    same = {k: v for k, v in body.items() if k not in ("id", "network", "gateway", "address", "assigned_at", "href")}
    assert same == {k: v for k, v in drf_made.items() if k in same}
    assert (body["network"], body["device_label"], block.device_label) == ("147.75.0.0/31", "sw1", "sw1")
    event = AuditEvent.objects.get(action="ipam.assignment.create", target_id=str(block.pk))
    assert (event.actor_type, event.actor_id) == ("token", str(token.pk))

    with CaptureQueriesContext(connection) as queries:
        assert lean.get(f"/api/ipam/blocks/{pool4.pk}/free?per_page=5").json()["free"][0] == "147.75.0.4/30"  # after both /31s
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2  # the token, then the block and its first page in one statement


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"prefix_length": "x"}, 422, "prefix_length: A valid integer is required."),
    ({"prefix_length": 31, "kind": "pool"}, 422, "kind: \"pool\" is not a valid choice."),
    ({"prefix_length": 33}, 422, "prefix_length"),
    ({"prefix_length": 16}, 422, "larger than its parent"),
])
def test_refused_allocations_are_the_drf_views_errors_and_write_nothing(staff_user, pool4, body, status, message):
    lean, _ = token_client(staff_user)
    before = (Block.objects.count(), AuditEvent.objects.count())
    answer = lean.post(f"/api/ipam/blocks/{pool4.pk}/allocate", body, format="json")
    assert answer.status_code == status and message in " ".join(answer.json()["errors"])
    assert (Block.objects.count(), AuditEvent.objects.count()) == before


def test_a_full_pool_a_missing_block_and_who_may_ask_are_answered_as_before(staff_user, pool4, supernet4):
    tiny = services.block_create(network="147.75.9.0/31", kind=Kind.POOL, parent=supernet4, facility=pool4.facility)
    services.block_allocate(parent=tiny, prefix_length=31)
    lean, _ = token_client(staff_user)
    full = lean.post(f"/api/ipam/blocks/{tiny.pk}/allocate", {"prefix_length": 31}, format="json")
    assert full.status_code == 422 and "No free /31 is left" in full.json()["errors"][0]
    assert lean.post("/api/ipam/blocks/999999/allocate", {"prefix_length": 31}, format="json").status_code == 404
    assert lean.get("/api/ipam/blocks/999999/free").status_code == 404
    assert lean.get("/api/ipam/blocks/999999/utilisation").status_code == 404

    read_only, _ = token_client(staff_user, read_only=True)
    assert read_only.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31}, format="json").status_code == 403
    assert read_only.get(f"/api/ipam/blocks/{pool4.pk}/free").status_code == 200
    customer, _ = token_client(UserFactory(username="customer"))
    for answer in (customer.get(f"/api/ipam/blocks/{pool4.pk}/free"), customer.get("/api/ipam/who-held?address=147.75.0.1"),
                   customer.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31}, format="json")):
        assert answer.status_code == 403
    bad_token = APIClient()
    bad_token.credentials(HTTP_X_AUTH_TOKEN="not-a-token")
    refused = bad_token.get(f"/api/ipam/blocks/{pool4.pk}/free")
    assert refused.status_code == 401 and refused.json() == {"errors": ["Invalid, revoked or unknown API token."]}
    assert APIClient().get(f"/api/ipam/blocks/{pool4.pk}/free").status_code in (401, 403)
    assert Block.objects.filter(parent=pool4).count() == 0


@pytest.mark.django_db(transaction=True)
def test_reads_outside_a_transaction_send_the_read_and_the_token_together_and_answer_the_same(staff_user, pool4):
    """Outside a transaction (as under gunicorn) the read and the token lookup are pipelined."""
    services.block_allocate(parent=pool4, prefix_length=31, device_label="sw1")
    lean, _ = token_client(staff_user)
    drf = drf_client(staff_user)
    for path in (f"/api/ipam/blocks/{pool4.pk}/free?per_page=2", f"/api/ipam/blocks/{pool4.pk}/utilisation",
                 f"/api/ipam/blocks/{pool4.pk}/free?per_page=2&start=147.75.0.40"):
        a, b = lean.get(path), drf.get(path)
        assert (a.status_code, a.content) == (b.status_code, b.content), path
    assert lean.get("/api/ipam/blocks/999999/utilisation").status_code == 404
    assert lean.get("/api/ipam/blocks/999999/free").status_code == 404
    customer, _ = token_client(UserFactory(username="customer2"))
    assert customer.get(f"/api/ipam/blocks/{pool4.pk}/free").status_code == 403
    bad_token = APIClient()
    bad_token.credentials(HTTP_X_AUTH_TOKEN="not-a-token")
    assert bad_token.get(f"/api/ipam/blocks/{pool4.pk}/utilisation").status_code == 401
    made = lean.post(f"/api/ipam/blocks/{pool4.pk}/allocate", {"prefix_length": 31}, format="json")
    assert made.status_code == 201 and made.json()["network"] == "147.75.0.2/31"
