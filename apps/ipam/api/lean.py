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

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer

from apps.accounts.authentication import TokenAuthentication
from apps.accounts.permissions import actor_of
from apps.ipam import selectors, services
from apps.ipam.api import serializers as s
from apps.ipam.api import views
from apps.ipam.models import Block, Kind
from project.jsonbody import JSONBodyError, loads_bounded

_renderer = JSONRenderer()
_ALLOCATE_FIELDS = frozenset({"prefix_length", "kind", "device_label", "description"})


class _HandOver(Exception):
    """Not the plain case: the full DRF view answers."""


def _json(data: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(_renderer.render(data), content_type="application/json", status=status)
    response["Vary"] = "Accept"
    return response


def lean(full_view: type[views.StaffView], method: str) -> Callable:
    """Serve `method` requests of `full_view`'s URL with the decorated function when the request is
    the plain case, and hand everything else to `full_view` itself."""
    full = full_view.as_view()
    authenticators = [cls() for cls in full_view.authentication_classes]
    permissions = [cls() for cls in full_view.permission_classes]

    def decorate(fast: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # as every DRF view: token requests carry no cookie to forge
        @wraps(fast)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method != method or not authenticators or not isinstance(authenticators[0], TokenAuthentication):
                return full(request, **kwargs)
            try:
                found = authenticators[0].authenticate(request)  # type: ignore[arg-type]
            except APIException:
                found = None
            if found is None:  # no token (a session?) or a bad one: DRF tries the rest and words the refusal
                return full(request, **kwargs)
            request.user, request.auth = found  # type: ignore[attr-defined]
            if not all(permission.has_permission(request, None) for permission in permissions):  # type: ignore[arg-type]
                return full(request, **kwargs)
            try:
                return fast(request, **kwargs)
            except (_HandOver, APIException, DjangoValidationError, Http404, ObjectDoesNotExist):
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


@lean(views.BlockFreeView, "GET")
def block_free(request: HttpRequest, pk: int) -> HttpResponse:
    params = request.GET
    if "start" in params:
        return _json(views.free_space_payload(params, _block(pk), request.path))
    try:
        per_page = max(1, min(int(params.get("per_page", 50)), 1000))
    except ValueError as exc:
        raise _HandOver from exc
    found = selectors.block_free_space_first_page(pk, limit=per_page)  # the block and its page in one statement
    if found is None:
        raise _HandOver
    block, page = found
    return _json(views.free_space_body(block, page, per_page, request.path))


@lean(views.BlockUtilisationView, "GET")
def block_utilisation(request: HttpRequest, pk: int) -> HttpResponse:
    found = selectors.block_utilisation_by_id(pk)  # the block and its figures in one statement
    if found is None:
        raise _HandOver
    return _json(s.utilisation(*found))


@lean(views.WhoHeldView, "GET")
def who_held(request: HttpRequest) -> HttpResponse:
    return _json(views.who_held_payload(request.GET))
