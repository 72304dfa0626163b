"""Errors on API and machine routes are JSON bodies, never Django's HTML (or, with DEBUG, technical) pages.

DRF turns the exceptions it knows into `{"errors": [...]}` (apps/api/exceptions.py). What escapes a view
— a bug, a database error, a body Django itself refuses — reaches `JSONErrorMiddleware`, which logs it
with its traceback and answers a short JSON error without any detail of the server (the request id
lets staff find the log line). The debug page stays available for the portal and admin under DEBUG.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.debug import SafeExceptionReporterFilter

from project.jsonbody import JSONBodyError

logger = logging.getLogger("metalyard.errors")

# API trees and the endpoints machines call (iPXE, metadata, events, phone-home, discovery, assets).
JSON_ROUTES = re.compile(r"^/(api/|metal/v1/|ipxe/|machine/|discovery/|netboot/|metadata|userdata|2009-04-04/|latest/|provisioning/)")


def is_json_route(path: str) -> bool:
    return bool(JSON_ROUTES.match(path))


def json_error(status: int, message: str, request: HttpRequest | None = None) -> JsonResponse:
    body: dict[str, object] = {"errors": [message]}
    context = getattr(request, "audit_context", None) if request is not None else None
    if context is not None and getattr(context, "request_id", None):
        body["request_id"] = context.request_id
    return JsonResponse(body, status=status)


class JSONErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_json_route(request.path):
            return None
        if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
            return json_error(400, "The request body is too large.", request)
        if isinstance(exc, JSONBodyError):
            return json_error(400, str(exc), request)
        if isinstance(exc, SuspiciousOperation | BadRequest):
            return json_error(400, "Bad request.", request)
        logger.error("Internal error on %s %s", request.method, request.path, exc_info=exc)
        return json_error(500, "Internal server error; the operator can find it in the log by this request id.", request)


class SettingsHidingReporterFilter(SafeExceptionReporterFilter):
    """Also hide settings whose values carry credentials in a URL (DATABASE_URL, REDIS_URL, Q_CLUSTER …)."""

    hidden_settings = re.compile("API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DATABASE|REDIS|CLUSTER", flags=re.I)
