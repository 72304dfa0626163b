"""Lean views: the hot endpoints of either API tree answered without DRF's request wrapping, content
negotiation, parser and serializer machinery, in front of the DRF view that stays the reference.

A request that authenticates with an API token, passes the DRF view's own permission classes and
throttles, and asks for the plain case is answered by the lean function: the same authentication
class, permission classes, throttles, services and JSON renderer, so the same body and actor.
Anything else — no token or a bad one, a session, a refusal, a parameter or header the lean function
does not handle, a missing object — is handed to the full DRF view, which answers exactly as before.
A lean read writes nothing, so a hand-over after it has started leaves nothing behind.

Used by apps/ipam/api/lean.py (staff IPAM) and apps/installs/api/lean.py (customer devices).
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
from rest_framework.views import APIView

from apps.accounts.authentication import TokenAuthentication
from apps.api.renderers import MetalJSONRenderer

renderer = MetalJSONRenderer()  # the DRF views' renderer: the same bytes, timestamps included
# What the DRF views answer to: no Accept header, or one their first renderer (JSON) takes as is.
PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


class HandOver(Exception):
    """Not the plain case: the full DRF view answers."""


def json_response(data: Any = None, status: int = 200, *, body: bytes | None = None, allow: str = "") -> HttpResponse:
    """The DRF view's response: its renderer's bytes (or `body`, already rendered the same way) and its headers."""
    response = HttpResponse(renderer.render(data) if body is None else body, content_type="application/json", status=status)
    response["Vary"] = "Accept"
    if allow:
        response["Allow"] = allow
    return response


@contextmanager
def one_round_trip() -> Iterator[None]:
    """PostgreSQL outside a transaction: the statements sent inside are pipelined (psycopg's pipeline
    mode), so a read sent first and the token lookup after it travel to the server and back together."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


def lean(full_view: type[APIView], method: str, send: Callable[..., Any] | None = None) -> Callable:
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
            if (request.method != method or not authenticators or not isinstance(authenticators[0], TokenAuthentication)
                    or request.headers.get("Accept", "").strip() not in PLAIN_ACCEPT):
                return full(request, **kwargs)
            with one_round_trip() if send is not None else nullcontext(), connection.cursor() as cursor:
                try:
                    sent = send(request, cursor, **kwargs) if send is not None else None
                    # A wrong token is not counted here: the DRF view counts it once when it refuses it.
                    found = authenticators[0].authenticate_known(request)  # type: ignore[attr-defined]
                except (HandOver, APIException):
                    found = None
                # No token (a session?) or a bad one, or not allowed: DRF tries the rest and words the refusal.
                if found is not None:
                    request.user, request.auth = found  # type: ignore[attr-defined]
                    # The same throttles as the DRF view (a throttled caller is handed over, and refused there with 429);
                    # a call they allowed is not counted again if it is handed over (apps.accounts.throttling._Throttle).
                    request.throttles_counted = set()  # type: ignore[attr-defined]
                    if (all(permission.has_permission(request, None) for permission in permissions)  # type: ignore[arg-type]
                            and all(cls().allow_request(request, None) for cls in throttle_classes)):  # type: ignore[arg-type]
                        try:
                            return fast(request, **kwargs) if send is None else fast(request, cursor, sent, **kwargs)
                        except (HandOver, APIException, DjangoValidationError, Http404, ObjectDoesNotExist):
                            pass
            return full(request, **kwargs)

        # The schema generators and the compatibility table read the DRF view behind the URL.
        view.cls = view.view_class = full_view  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        return view

    return decorate
