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
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException

from apps.accounts.authentication import TokenAuthentication
from apps.accounts.permissions import actor_of
from apps.api.renderers import MetalJSONRenderer
from apps.ipam import selectors, services
from apps.ipam.api import serializers as s
from apps.ipam.api import views
from apps.ipam.models import Block, Kind
from project.jsonbody import JSONBodyError, loads_bounded

_renderer = MetalJSONRenderer()  # the DRF views' renderer: the same bytes, timestamps included
_ALLOCATE_FIELDS = frozenset({"prefix_length", "kind", "device_label", "description"})


class _HandOver(Exception):
    """Not the plain case: the full DRF view answers."""


def _json(data: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(_renderer.render(data), content_type="application/json", status=status)
    response["Vary"] = "Accept"
    return response


@contextmanager
def _one_round_trip() -> Iterator[None]:
    """PostgreSQL outside a transaction: the statements sent inside are pipelined (psycopg's pipeline
    mode), so a read sent first and the token lookup after it travel to the server and back together."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


def lean(full_view: type[views.StaffView], method: str, send: Callable[..., Any] | None = None) -> Callable:
    """Serve `method` requests of `full_view`'s URL with the decorated function when the request is
    the plain case, and hand everything else to `full_view` itself.

    `send(request, cursor, **kwargs)`, for reads, sends the view's one statement before the token
    lookup, in the same round trip; the view reads the reply from the cursor only once the caller has
    passed authentication and the permission classes (what it says is not used otherwise)."""
    full = full_view.as_view()
    authenticators = [cls() for cls in full_view.authentication_classes]
    permissions = [cls() for cls in full_view.permission_classes]
    throttle_classes = full_view.throttle_classes

    def decorate(fast: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # as every DRF view: token requests carry no cookie to forge
        @wraps(fast)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method != method or not authenticators or not isinstance(authenticators[0], TokenAuthentication):
                return full(request, **kwargs)
            with _one_round_trip() if send is not None else nullcontext(), connection.cursor() as cursor:
                try:
                    sent = send(request, cursor, **kwargs) if send is not None else None
                    found = authenticators[0].authenticate(request)  # type: ignore[arg-type]
                except (_HandOver, APIException):
                    found = None
                # No token (a session?) or a bad one, or not allowed: DRF tries the rest and words the refusal.
                if found is not None:
                    request.user, request.auth = found  # type: ignore[attr-defined]
                    # The same throttles as the DRF view (a throttled caller is handed over, and refused there with 429).
                    if (all(permission.has_permission(request, None) for permission in permissions)  # type: ignore[arg-type]
                            and all(cls().allow_request(request, None) for cls in throttle_classes)):  # type: ignore[arg-type]
                        try:
                            return fast(request, **kwargs) if send is None else fast(request, cursor, sent, **kwargs)
                        except (_HandOver, APIException, DjangoValidationError, Http404, ObjectDoesNotExist):
                            pass
            return full(request, **kwargs)

        return view

    return decorate


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
