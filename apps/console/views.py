"""The device's console tab in the portal: the live console in the browser (xterm.js over the console server's
websocket, apps.console.web), how to reach it over SSH (SOS), its scrollback (what the console printed,
refreshed while the page is open) and who used the console, when and from where. Same
permission as SOS: a member who may change the project's devices; anyone else gets 404 or the refusal."""
from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.accounts.selectors import WRITE, can
from apps.console.models import ConsoleSession
from apps.console.services import scrollback_read
from apps.console.web import websocket_url
from apps.installs.api.serializers import sos_address
from apps.installs.selectors import visible_devices

# Terminal control sequences (colours, cursor moves) and other control bytes are dropped for the page's <pre>.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
POLL_SECONDS = 2


def _screen(data: bytes) -> str:
    return _CONTROL.sub("", data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n"))


@login_required
@require_safe
def device_console(request: HttpRequest, pk: str) -> HttpResponse:
    device = visible_devices(request.user).select_related("server__facility").filter(pk=pk).first()
    if device is None:
        raise Http404("No such server.")
    allowed = can(request.user, device.project, WRITE)
    context = {"device": device, "project": device.project, "allowed": allowed, "poll_seconds": POLL_SECONDS}
    if allowed:
        facility = device.server.facility if device.server_id else device.facility
        context.update({
            "sos": sos_address(device, facility),
            "websocket": websocket_url(device) if device.server_id else "",
            "listener": settings.SOS_BIND,
            "screen": _screen(scrollback_read(device_id=device.pk)),
            "sessions": ConsoleSession.objects.filter(device=device).select_related("user")[:20],
        })
    template = "console/_screen.html" if request.headers.get("HX-Request") else "console/device_console.html"
    return render(request, template, context, status=200 if allowed or template.endswith("_screen.html") else 403)
