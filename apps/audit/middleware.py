"""Binds each request's actor, request id and source IP to the audit context."""
from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.audit.context import acting_as

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(request: HttpRequest) -> str | None:
    candidate = request.headers.get("X-Request-ID", "")
    return candidate if _REQUEST_ID.match(candidate) else None


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        with acting_as(actor, request_id=request_id_of(request), source_ip=request.META.get("REMOTE_ADDR")) as ctx:
            request.audit_context = ctx  # type: ignore[attr-defined]
            response = self.get_response(request)
        response.headers.setdefault("X-Request-ID", ctx.request_id)
        return response
