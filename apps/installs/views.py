"""The plain-HTTP endpoints netbooting machines call: iPXE scripts by MAC, and per install (with its
secret in the X-Metalyard-Secret header) metadata, userdata, events, failure, phone-home, inventory.
Unauthenticated or malformed calls get a 4xx and change nothing."""
from __future__ import annotations

import hmac
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.installs import ipxe, provisioning
from apps.installs.models import EVENT_TYPES, MACHINE_EVENT_TYPES, Install
from apps.installs.selectors import device_metadata
from apps.installs.services import machine
from project.jsonbody import loads_bounded

SECRET_HEADER = "HTTP_X_METALYARD_SECRET"  # noqa: S105 - a header name
MAX_BODY = 256 * 1024


def _base_url(request: HttpRequest) -> str:
    # The platform as this machine reached it (a QEMU guest sees the host's loopback as 10.0.2.2).
    return request.build_absolute_uri("/").rstrip("/")


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"errors": [message]}, status=status)


def _mac(raw: str) -> str | None:
    from apps.hardware.fields import normalize_mac

    try:
        return normalize_mac(raw)
    except ValidationError:
        return None


@require_GET
def ipxe_entry(request: HttpRequest) -> HttpResponse:
    return _text(ipxe.entry_script(_base_url(request)))


@require_GET
def ipxe_for_mac(request: HttpRequest, mac: str) -> HttpResponse:
    normal = _mac(mac)
    if normal is None:
        return _text("#!ipxe\necho Metalyard: malformed MAC in the URL\nexit\n", status=400)
    server, install = machine.install_for_mac(normal)
    base = _base_url(request)
    address = provisioning.client_address(request)
    reserved = provisioning.reservation_at(address)
    # Only the machine at the address reserved for this MAC gets its script: a MAC is no credential.
    if (server is None and reserved is not None) or (server is not None and (reserved is None or reserved.interface.mac != normal)):
        return _error(403, "this address is not the one reserved for that MAC")
    if server is None:
        machine.discovered_machine_record(mac=normal, address=address)
        return _text(ipxe.discovery_script(normal.replace(":", "-"), base))
    if install is None or install.step not in ("wait_ipxe", "wait_phone_home", "wait_inventory"):
        return _text(ipxe.local_boot_script("no install is running for this server"))
    machine.install_ipxe_fetched(install=install, mac=normal)
    return _text(ipxe.install_script(install, base))


def machine_call(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Load the install named in the URL and check the secret its iPXE script carried."""

    @csrf_exempt
    def wrapper(request: HttpRequest, install_id: Any) -> HttpResponse:
        install = Install.objects.select_related("device", "server", "operating_system").filter(pk=install_id).first()
        offered = request.META.get(SECRET_HEADER, "")
        # Unknown install and wrong secret answer alike, so the call reveals nothing.
        if install is None or not offered or not hmac.compare_digest(offered.encode(), install.secret.encode()) \
                or not provisioning.may_speak_for(install, provisioning.client_address(request),
                                                  running_os=install.step == "wait_first_boot"):
            return _error(403, "unknown install, wrong X-Metalyard-Secret or not the install's machine")
        payload: dict[str, Any] = {}
        if request.method == "POST":
            if len(request.body) > MAX_BODY:
                return _error(413, f"body larger than {MAX_BODY} bytes")
            try:
                payload = loads_bounded(request.body or b"{}", max_bytes=MAX_BODY)
            except ValueError as exc:  # JSONBodyError too: too deep, not UTF-8, not JSON
                return _error(400, str(exc))
            if not isinstance(payload, dict):
                return _error(400, "the body must be a JSON object")
        try:
            return view(request, install, payload)
        except machine.MachineCallRejected as exc:
            return _error(409, str(exc))

    return wrapper


@require_GET
@machine_call
def metadata(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    if not install.is_open:
        return _error(409, f"install {install.pk} is {install.state}")
    return JsonResponse(device_metadata(install=install, base_url=_base_url(request)))


@require_GET
@machine_call
def userdata(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    return _text(install.device.userdata if install.device else "")


@require_POST
@machine_call
def events(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    kind, body = payload.get("type"), payload.get("body", "")
    if kind not in MACHINE_EVENT_TYPES or not isinstance(body, str):
        allowed = ", ".join(sorted(MACHINE_EVENT_TYPES))
        return _error(422, f"'type' must be one of {allowed} and 'body' a string")
    event = machine.install_machine_event(install=install, type=kind, body=body or EVENT_TYPES[kind][0])
    return JsonResponse({"id": event.pk, "type": event.type}, status=201)


@require_POST
@machine_call
def phone_home(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    known = sorted(machine.INSTALLER_STATES | {machine.FIRST_BOOT_STATE})
    if payload.get("state", "installed") not in known:
        return _error(422, f"'state' must be one of {', '.join(known)}")
    machine.install_phone_home(install=install, payload=payload)
    return JsonResponse({"status": "ok"})


@require_POST
@machine_call
def failure(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return _error(422, "'reason' (a non-empty string) is required")
    machine.install_machine_failure(install=install, reason=reason.strip())
    return JsonResponse({"status": "recorded"})


@require_POST
@machine_call
def inventory(request: HttpRequest, install: Install, payload: dict[str, Any]) -> HttpResponse:
    from apps.hardware.commissioning import InvalidReport

    try:
        machine.install_inventory(install=install, inventory=payload)
    except InvalidReport as exc:
        return _error(400, str(exc))
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_POST
def discovery_inventory(request: HttpRequest, mac: str) -> HttpResponse:
    normal = _mac(mac)
    if normal is None:
        return _error(400, "malformed MAC in the URL")
    if len(request.body) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        payload = loads_bounded(request.body or b"{}", max_bytes=MAX_BODY)
    except ValueError as exc:  # JSONBodyError too: too deep, not UTF-8, not JSON
        return _error(400, str(exc))
    if not isinstance(payload, dict):
        return _error(400, "the body must be a JSON object")
    address = provisioning.client_address(request)
    if provisioning.reservation_at(address) is not None:
        # A known server's address: it is commissioned through its install, never as a stranger.
        return _error(403, "this address belongs to a known server")
    machine.discovered_machine_record(mac=normal, address=address, inventory=payload)
    return JsonResponse({"status": "recorded"}, status=201)


@require_GET
def netboot_asset(request: HttpRequest, name: str) -> HttpResponse:
    """Kernels, initramfs and images from METALYARD_NETBOOT_ASSETS (a web server or CDN does this in production)."""
    root = Path(settings.NETBOOT_ASSETS_DIR).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise Http404("no such netboot asset")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(open(path, "rb"), content_type=content_type)  # FileResponse closes it
