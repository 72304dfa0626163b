"""The plain-HTTP endpoints netbooting machines call: iPXE scripts by MAC, and per install (with its
secret in the X-Metalyard-Secret header) metadata, userdata, events, failure, phone-home, inventory.
Unauthenticated or malformed calls get a 4xx and change nothing."""
from __future__ import annotations

import functools
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
    """The per-MAC script. It carries no secret and changes nothing: the installer it boots claims the
    run (POST …/claim) to get its phase's secret, once."""
    normal = _mac(mac)
    if normal is None:
        return _text("#!ipxe\necho Metalyard: malformed MAC in the URL\nexit\n", status=400)
    server, install = machine.install_for_mac(normal)
    base = _base_url(request)
    reserved = provisioning.reservation_at(provisioning.client_address(request))
    # Only the machine at the address reserved for this MAC gets its script: a MAC is no credential.
    if (server is None and reserved is not None) or (server is not None and (reserved is None or reserved.interface.mac != normal)):
        return _error(403, "this address is not the one reserved for that MAC")
    if server is None:
        return _text(ipxe.discovery_script(normal.replace(":", "-"), base))
    if install is None or install.step not in ("wait_ipxe", "wait_phone_home", "wait_inventory"):
        # always_pxe: every boot of a custom iPXE device runs the customer's script again.
        latest = machine.always_pxe_install(server) if install is None else None
        if latest is not None:
            return _text(ipxe.custom_chain_script(latest, base))
        return _text(ipxe.local_boot_script("no install is running for this server"))
    return _text(ipxe.install_script(install, base))


@require_GET
def custom_script(request: HttpRequest, install_id: Any) -> HttpResponse:
    """The customer's iPXE script as the run fetched and checked it, to the install's machine only (its
    reserved address). For a running custom_ipxe run, this fetch ends the install (iPXE cannot call home)."""
    install = Install.objects.select_related("server").filter(pk=install_id).first()
    if install is None or not provisioning.may_speak_for(install, provisioning.client_address(request)):
        return _error(403, "unknown install or not the install's machine")
    try:
        return _text(machine.install_custom_script_served(install=install))
    except machine.MachineCallRejected as exc:
        return _error(409, str(exc))


NETBOOT, FIRST_BOOT = "netboot", "first_boot"  # the boot phases, each with its own secret


def _phase_of(install: Install, offered: str) -> str | None:
    """Which phase's secret was offered (compared in constant time), or None."""
    phase = None
    for name, secret in ((NETBOOT, install.secret), (FIRST_BOOT, install.first_boot_secret)):
        if offered and hmac.compare_digest(offered.encode(), secret.encode()):
            phase = name
    return phase


def _body(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    if len(request.body) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        payload = loads_bounded(request.body or b"{}", max_bytes=MAX_BODY)
    except ValueError as exc:  # JSONBodyError too: too deep, not UTF-8, not JSON
        return _error(400, str(exc))
    if not isinstance(payload, dict):
        return _error(400, "the body must be a JSON object")
    return payload


def machine_call(*phases: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Load the install named in the URL; the caller must be the install's machine (its reserved
    address) and offer the secret of one of `phases`. The view gets the phase the secret is for."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, install_id: Any) -> HttpResponse:
            install = Install.objects.select_related("device", "server", "operating_system").filter(pk=install_id).first()
            phase = _phase_of(install, request.META.get(SECRET_HEADER, "")) if install is not None else None
            # Unknown install, wrong secret, a secret of another phase and another address answer alike.
            if install is None or phase not in phases or not provisioning.may_speak_for(
                    install, provisioning.client_address(request), running_os=phase == FIRST_BOOT):
                return _error(403, "unknown install, wrong X-Metalyard-Secret or not the install's machine")
            payload = _body(request) if request.method == "POST" else {}
            if isinstance(payload, HttpResponse):
                return payload
            try:
                return view(request, install, payload, phase)
            except machine.MachineCallRejected as exc:
                return _error(409, str(exc))

        return wrapper

    return decorate


@csrf_exempt
@require_POST
def claim(request: HttpRequest, install_id: Any) -> HttpResponse:
    """The installer (or wipe or discovery image) claims its run from its reserved address and gets
    the phase's secret, once. No secret is needed to ask; a second claim gets 409."""
    install = Install.objects.select_related("server").filter(pk=install_id).first()
    address = provisioning.client_address(request)
    if install is None or not provisioning.may_speak_for(install, address):
        return _error(403, "unknown install or not the install's machine")
    reserved = provisioning.reservation_at(address)
    try:
        secret = machine.install_claim(install=install, mac=reserved.interface.mac if reserved else "")
    except machine.MachineCallRejected as exc:
        return _error(409, str(exc))
    return JsonResponse({"secret": secret, "mode": ipxe.install_mode(install)})


@require_GET
@machine_call(NETBOOT, FIRST_BOOT)
def metadata(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
    if not install.is_open:
        return _error(409, f"install {install.pk} is {install.state}")
    return JsonResponse(device_metadata(install=install, base_url=_base_url(request), for_installer=phase == NETBOOT))


@require_GET
@machine_call(NETBOOT, FIRST_BOOT)
def userdata(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
    # Only while the run is open: a secret that leaked later reads nothing (a running device reads its
    # userdata from the metadata service, by its own address).
    if not install.is_open:
        return _error(409, f"install {install.pk} is {install.state}")
    return _text(install.device.userdata if install.device else "")


@require_POST
@machine_call(NETBOOT)
def events(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
    kind, body = payload.get("type"), payload.get("body", "")
    if kind not in MACHINE_EVENT_TYPES or not isinstance(body, str):
        allowed = ", ".join(sorted(MACHINE_EVENT_TYPES))
        return _error(422, f"'type' must be one of {allowed} and 'body' a string")
    event = machine.install_machine_event(install=install, type=kind, body=body or EVENT_TYPES[kind][0])
    return JsonResponse({"id": event.pk, "type": event.type}, status=201)


@require_POST
@machine_call(NETBOOT, FIRST_BOOT)
def phone_home(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
    known = sorted(machine.INSTALLER_STATES | {machine.FIRST_BOOT_STATE})
    state = payload.get("state", "installed")
    if state not in known:
        return _error(422, f"'state' must be one of {', '.join(known)}")
    if (state == machine.FIRST_BOOT_STATE) != (phase == FIRST_BOOT):
        # The installer's secret never says "booted", the installed system's never "installed".
        return _error(403, f"this secret is not the one for a {state!r} phone-home")
    machine.install_phone_home(install=install, payload=payload)
    return JsonResponse({"status": "ok"})


@require_POST
@machine_call(NETBOOT, FIRST_BOOT)
def failure(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
    reason = payload.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return _error(422, "'reason' (a non-empty string) is required")
    machine.install_machine_failure(install=install, reason=reason.strip())
    return JsonResponse({"status": "recorded"})


@require_POST
@machine_call(NETBOOT)
def inventory(request: HttpRequest, install: Install, payload: dict[str, Any], phase: str) -> HttpResponse:
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
    server, _ = machine.install_for_mac(normal)
    if provisioning.reservation_at(address) is not None or server is not None:
        # A known server (by its address or its MAC) is commissioned through its install, never as a stranger.
        return _error(403, "this address or MAC belongs to a known server")
    try:
        machine.discovered_machine_record(mac=normal, address=address, inventory=payload)
    except machine.MachineCallRejected as exc:
        return _error(409, str(exc))
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
