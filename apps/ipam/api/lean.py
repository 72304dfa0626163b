"""Lean views for the staff IPAM API's hot endpoints: allocate, free space, utilisation, who-held.

A request that authenticates with an API token, passes the staff view's own permission classes and
asks for the plain case is answered here, without DRF's request wrapping, content negotiation,
parser and serializer machinery: the same authentication class, permission classes, services,
selectors, payload functions and JSON renderer, so the same body, audit event and actor. Anything
else — no token or a bad one, not staff, a read-only token on a write, a body or parameter that is
not the plain case, a missing block, any refusal — is handed to the full DRF view, which then
answers exactly as before (its errors, its status codes). Nothing is written before a hand-over: an
allocation either succeeds here or writes nothing (one statement, see services._allocate_postgres).

A rule added to one of the four DRF view methods below must be added to its lean view too — or,
better, to the service or permission class both call (quotas, token scope), so neither can miss it.
The plumbing (token, permissions, throttles, hand-over) is apps/api/lean.py.
"""
from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from apps.accounts.permissions import actor_of
from apps.api.lean import HandOver as _HandOver
from apps.api.lean import json_response as _json
from apps.api.lean import lean
from apps.ipam import selectors, services
from apps.ipam.api import serializers as s
from apps.ipam.api import views
from apps.ipam.models import Block, Kind
from project.jsonbody import JSONBodyError, loads_bounded

_ALLOCATE_FIELDS = frozenset({"prefix_length", "kind", "device_label", "description"})


def _block(pk: int) -> Block:
    block = Block.objects.filter(pk=pk).first()
    if block is None:
        raise _HandOver
    return block


@lean(views.BlockAllocateView, "POST")
def block_allocate(request: HttpRequest, pk: int) -> HttpResponse:
    if request.content_type != "application/json":
        raise _HandOver
    try:
        data = loads_bounded(request.body)
    except JSONBodyError as exc:
        raise _HandOver from exc
    if not isinstance(data, dict) or not set(data) <= _ALLOCATE_FIELDS:
        raise _HandOver
    length, kind = data.get("prefix_length"), data.get("kind", Kind.ASSIGNMENT)
    label, description = data.get("device_label", ""), data.get("description", "")
    if (type(length) is not int or not 0 <= length <= 128 or kind not in (Kind.ASSIGNMENT, Kind.RESERVATION)
            or not isinstance(label, str) or not isinstance(description, str)):
        raise _HandOver
    block = services.block_allocate(parent=Block(pk=pk), prefix_length=length, kind=kind, device_label=label.strip(),
                                    description=description.strip(), actor=actor_of(request))  # type: ignore[arg-type]
    return _json(s.staff_block(block), status=201)


def _free_send(request: HttpRequest, cursor: Any, pk: int) -> int | None:
    """The first page (no `start`): its statement, sent; the page size. Otherwise nothing is sent."""
    if "start" in request.GET or connection.vendor != "postgresql":
        return None
    try:
        per_page = max(1, min(int(request.GET.get("per_page", 50)), 1000))
    except ValueError as exc:
        raise _HandOver from exc
    selectors.first_page_send(cursor, pk, limit=per_page)  # the block and its page in one statement
    return per_page


@lean(views.BlockFreeView, "GET", send=_free_send)
def block_free(request: HttpRequest, cursor: Any, per_page: int | None, pk: int) -> HttpResponse:
    if per_page is None:
        return _json(views.free_space_payload(request.GET, _block(pk), request.path))
    found = selectors.first_page_receive(cursor, pk, limit=per_page)
    if found is None:
        raise _HandOver
    block, page = found
    return _json(views.free_space_body(block, page, per_page, request.path))


def _utilisation_send(request: HttpRequest, cursor: Any, pk: int) -> bool:
    if connection.vendor != "postgresql":
        return False
    selectors.utilisation_send(cursor, pk)  # the block and its figures in one statement
    return True


@lean(views.BlockUtilisationView, "GET", send=_utilisation_send)
def block_utilisation(request: HttpRequest, cursor: Any, sent: bool, pk: int) -> HttpResponse:
    found = selectors.utilisation_receive(cursor, pk) if sent else selectors.block_utilisation_by_id(pk)
    if found is None:
        raise _HandOver
    return _json(s.utilisation(*found))


@lean(views.WhoHeldView, "GET")
def who_held(request: HttpRequest) -> HttpResponse:
    return _json(views.who_held_payload(request.GET))
