"""The console server's ASGI application (served by uvicorn inside `manage.py sos`, apps.console.server): the
websocket of the device console tab, behind the same proxy as the site. Same-site only (the Origin must be one
of ALLOWED_HOSTS) and signed in with the site's session cookie; everything else is the WSGI site's.

It lives in the console app, not in project/: it routes only the console's consumer, and project/ importing an
app would close an app-level import cycle (tests/test_architecture.py)."""
from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - after django.setup()
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from apps.console.web import ConsoleConsumer  # noqa: E402

NOT_HERE = b"This is Metalyard's console server: it serves only the websockets under /ws/.\n"


async def not_here(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Plain HTTP (a health check, a misrouted request): 404 with a line saying what this is."""
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": NOT_HERE})


application = ProtocolTypeRouter({
    "http": not_here,
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter([
        path("ws/devices/<uuid:pk>/console/", ConsoleConsumer.as_asgi()),
    ]))),
})
