"""Two listeners, one code base: the public site (portal, API, admin) and the provisioning network's
listener (the endpoints netbooting machines and running devices call: iPXE scripts, netboot assets,
metadata, userdata, events, phone-home, discovery).

The provisioning WSGI application (project/provisioning_wsgi.py, or `manage.py provisioning_server`)
marks every request it serves with a WSGI environ key. An environ key without the HTTP_ prefix cannot
come from a client, so a request on the public listener can never reach the machine URLconf: there the
machine routes simply do not exist (404). On the provisioning listener only the machine URLconf
exists, and every error answer is JSON (no technical page, whatever DEBUG says)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

LISTENER_KEY = "metalyard.listener"
PROVISIONING = "provisioning"
# What the machine endpoints answer with themselves; anything else on an error is rewritten to JSON.
_MACHINE_CONTENT_TYPES = ("application/json", "text/plain")


def on_provisioning_listener(request: HttpRequest) -> bool:
    return request.META.get(LISTENER_KEY) == PROVISIONING


class ProvisioningListener:
    """WSGI wrapper: every request it passes on came in on the provisioning listener."""

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[LISTENER_KEY] = PROVISIONING
        return self.application(environ, start_response)


class ListenerMiddleware:
    """First in MIDDLEWARE: requests of the provisioning listener resolve against its own URLconf, and
    their error answers are JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not on_provisioning_listener(request):
            return self.get_response(request)
        request.urlconf = settings.PROVISIONING_URLCONF
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(_MACHINE_CONTENT_TYPES):
            # Django's own 404/400/500 pages (technical ones under DEBUG) never reach a machine.
            message = response.reason_phrase or "error"
            json_response = JsonResponse({"errors": [message]}, status=response.status_code)
            for header in ("Retry-After", "Allow"):
                if header in response:
                    json_response[header] = response[header]
            return json_response
        return response
