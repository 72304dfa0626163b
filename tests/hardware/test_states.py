"""The server state machine: every legal move works and is audited, every illegal one is a typed error."""
from __future__ import annotations

import itertools

import pytest

from apps.audit.models import AuditEvent
from apps.hardware import services
from apps.hardware.models import Server, ServerState
from project.states import IllegalTransition
from tests.hardware.factories import ServerFactory

pytestmark = pytest.mark.django_db

S = ServerState
LEGAL = sorted((source, target) for source, targets in Server.TRANSITIONS.items() for target in targets)
ILLEGAL = sorted((source, target) for source in S.values for target in S.values if target not in Server.TRANSITIONS[source])


def test_the_table_covers_every_state_and_the_design_cycle():
    assert set(Server.TRANSITIONS) == set(S.values)
    cycle = [S.NEW, S.COMMISSIONING, S.READY, S.ALLOCATED, S.PROVISIONING, S.ACTIVE, S.DEPROVISIONING, S.CLEANING, S.READY]
    for source, target in itertools.pairwise(cycle):
        assert target in Server.TRANSITIONS[source]
    for source in S.values:
        if source != S.MAINTENANCE and source != S.FAILED:
            assert {S.MAINTENANCE, S.FAILED} <= Server.TRANSITIONS[source]
    with pytest.raises(TypeError):
        Server.TRANSITIONS[S.NEW] = frozenset()  # read-only


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_legal_transition(source, target, staff_user):
    server = ServerFactory(state=source)
    services.server_transition(server=server, to=target, actor=staff_user, reason="test move")
    server.refresh_from_db()
    assert server.state == target and server.state_reason == "test move" and server.state_changed_at is not None
    event = AuditEvent.objects.filter(action="hardware.server.transition", target_id=str(server.pk)).get()
    assert event.changes["state"] == [source, target] and event.actor_name == staff_user.username and event.reason == "test move"


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition(source, target):
    server = ServerFactory(state=source)
    with pytest.raises(IllegalTransition) as exc:
        services.server_transition(server=server, to=target)
    assert f"cannot go from '{source}' to '{target}'" in str(exc.value)
    server.refresh_from_db()
    assert server.state == source
    assert not AuditEvent.objects.filter(action="hardware.server.transition").exists()


def test_bulk_transition_reports_each_refusal():
    ok, bad = ServerFactory(state=S.READY), ServerFactory(state=S.ACTIVE, serial="BUSY1")
    moved, refused = services.servers_transition(servers=[ok, bad], to=S.ALLOCATED)
    assert [s.pk for s in moved] == [ok.pk]
    assert "BUSY1" in refused and "cannot go from 'active' to 'allocated'" in refused["BUSY1"]
