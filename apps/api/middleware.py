"""Request plumbing the Equinix Metal clients rely on, for the two API trees (/metal/v1/, /api/):
repeated slashes in a path are one slash (packet-python builds `…/metal/v1//projects/…`, which
api.packet.net tolerated), an href followed as a path below the base is the href (packet-python fetches
`/metal/v1/projects/…` hrefs as `/metal/v1//metal/v1/projects/…`), and a path that matches no route is a
JSON 404, never an HTML page."""
from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver

from project.errors import json_error

API_PREFIXES = ("/metal/v1/", "/api/")
_REPEATED_SLASHES = re.compile(r"/{2,}")
_REPEATED_BASE = "/metal/v1/metal/v1/"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path.rstrip("/") in {p.rstrip("/") for p in API_PREFIXES}


class APIPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "//" in request.path_info:
            collapsed = _REPEATED_SLASHES.sub("/", request.path_info)
            if collapsed.startswith(_REPEATED_BASE):
                collapsed = collapsed[len("/metal/v1"):]
            if is_api_path(collapsed):
                script_name = request.path[: len(request.path) - len(request.path_info)]
                request.path_info = collapsed
                request.path = script_name + collapsed
        # Another listener (the provisioning one) sets its own URLconf and answers its own 404s.
        if is_api_path(request.path_info) and getattr(request, "urlconf", None) is None:
            try:
                # Kept for the view dispatch (project.wsgi.Handler), so the URL tree is walked once.
                request.resolved_api_path = (request.path_info, get_resolver().resolve(request.path_info))  # type: ignore[attr-defined]
            except Resolver404:
                return json_error(404, f"Not found: there is no API route {request.path_info}.", request)
        return self.get_response(request)
