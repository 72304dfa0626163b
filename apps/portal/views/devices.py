"""A project's servers: the list (badges, filters, search, pages), a server's page with its live install
progress and timeline, its addresses and network, and the actions of the registry its state and the user's role allow."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.facilities.models import Facility
from apps.hardware.models import NetworkInterface
from apps.installs import actions
from apps.installs import selectors as install_selectors
from apps.installs.models import CUSTOM_IPXE_SLUG, Device, DeviceState, Install, OperatingSystem
from apps.ipam.models import Assignment
from apps.ipam.selectors import device_addresses
from apps.portal.templatetags.portal import state_tone
from apps.portal.views.common import error_text, paginate, project_for, render_project
from project.states import StateConflict

# While a device is in one of these, its page asks for fresh progress every few seconds.
LIVE_TONES = frozenset({"busy"})
POLL_SECONDS = 2


def _as_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _latest_install(device: Device) -> Install | None:
    """The device's newest install from the prefetched `installs` (newest first), without a query."""
    installs = list(device.installs.all())
    return installs[0] if installs else None


def _progress(install: Install | None) -> int | None:
    return install_selectors.install_percentage(install, list(install.events.all())) if install is not None else None


@login_required
@require_safe
def project_devices(request: HttpRequest, pk: str) -> HttpResponse:
    """The project's servers, filtered by state and facility, searched by hostname, description or address,
    25 to a page, with a constant number of queries whatever the page's length."""
    project = project_for(request, pk)
    devices = (install_selectors.visible_devices(request.user).filter(project=project)
               .prefetch_related(Prefetch("installs", queryset=Install.objects.order_by("-created_at").prefetch_related("events")))
               .order_by("-created_at", "pk"))
    state, facility, search = request.GET.get("state", ""), request.GET.get("facility", ""), request.GET.get("q", "").strip()
    if state:
        devices = devices.filter(state=state)
    if facility:
        devices = devices.filter(Q(facility__code=facility) | Q(server__facility__code=facility))
    if search:
        matches = Q(hostname__icontains=search) | Q(description__icontains=search)
        address = _as_address(search)
        if address is not None:
            holding = Assignment.objects.active().filter(project=project, device_id__isnull=False, family=address.version,
                                                         first__lte=int(address), last__gte=int(address))
            matches |= Q(pk__in=holding.values("device_id"))
        devices = devices.filter(matches)
    page, query = paginate(request, devices)
    rows = list(page.object_list)
    addresses: dict[Any, list[Assignment]] = {}
    for assignment in Assignment.objects.active().filter(device_id__in=[d.pk for d in rows]).order_by("family", "-public"):
        addresses.setdefault(assignment.device_id, []).append(assignment)
    return render_project(request, "portal/devices.html", project, "devices", {
        "rows": [(d, _progress(_latest_install(d)), addresses.get(d.pk, [])[:1]) for d in rows],
        "page_obj": page, "query": query, "states": [s for s in DeviceState if s != DeviceState.DELETED],
        "facilities": Facility.objects.order_by("code").values_list("code", flat=True),
        "filters": {"state": state, "facility": facility, "q": search},
    })


# The parameters of the registry's actions that the portal offers (the API takes them all).
PORTAL_PARAMS = ("operating_system",)


@dataclass(frozen=True)
class ActionButton:
    action: actions.Action
    question: str  # the confirmation a destructive action asks first ("" for none)
    os_choices: tuple[tuple[str, str], ...] = ()  # for an action that takes an operating system: the plan's


def _plan_systems(device: Device) -> tuple[tuple[str, str], ...]:
    """The operating systems the device's plan allows that can be installed now (and the one it runs), by name;
    custom iPXE needs a script URL, which the API takes."""
    systems = (OperatingSystem.objects.filter(plans=device.plan_id).filter(Q(provisionable=True) | Q(pk=device.operating_system_id))
               .exclude(slug=CUSTOM_IPXE_SLUG).order_by("name"))
    return tuple((os_.slug, os_.name) for os_ in systems)


def action_buttons(request: HttpRequest, device: Device) -> list[ActionButton]:
    """The customer actions of the registry that the device's state and the user's role allow
    (actions.available): a role that cannot act gets no button at all."""
    return [ActionButton(action, action.confirm.format(name=device.hostname),
                         _plan_systems(device) if "operating_system" in action.params else ())
            for action in actions.available(device=device, user=request.user)]


def _device_for(request: HttpRequest, pk: Any) -> Device:
    """The device among the user's, with its project as visible_projects() gives it (the user's role known)."""
    device = get_object_or_404(install_selectors.visible_devices(request.user), pk=pk)
    device.project = project_for(request, device.project_id)
    return device


def _live_context(request: HttpRequest, device: Device) -> dict[str, Any]:
    install = install_selectors.device_current_install(device)
    events = list(install.events.all()) if install is not None else []
    timeline = install_selectors.install_timeline(install, events) if install is not None else []
    longest = max((entry.took for entry in timeline), default=0) or 1
    percentage = install_selectors.install_percentage(install, events) if install is not None else None
    buttons = action_buttons(request, device)
    return {
        "device": device, "install": install, "percentage": percentage, "live": state_tone(device.state) in LIVE_TONES,
        "poll_seconds": POLL_SECONDS, "buttons": buttons,
        "timeline": [(entry, round(100 * entry.took / longest)) for entry in timeline],
    }


def _details_context(device: Device) -> dict[str, Any]:
    interfaces = []
    if device.server_id:
        interfaces = list(NetworkInterface.objects.filter(server_id=device.server_id)
                          .select_related("cable__port__switch").order_by("name"))
    return {"addresses": device_addresses(device.pk), "interfaces": interfaces}


@login_required
def device_detail(request: HttpRequest, pk: str) -> HttpResponse:
    device = _device_for(request, pk)
    return render_project(request, "portal/device.html", device.project, "devices", {
        **_live_context(request, device), **_details_context(device),
    })


@login_required
def device_live(request: HttpRequest, pk: str) -> HttpResponse:
    """The live part of a device's page (state, progress bar, timeline, actions), which htmx fetches every
    few seconds while the device is busy and swaps in place: no reload."""
    device = _device_for(request, pk)
    # The addresses and the network come along, swapped out of band: they are filled in while the install runs.
    return render(request, "portal/device_live.html", {**_live_context(request, device), **_details_context(device),
                                                       "details_oob": True})


@login_required
@require_POST
def device_action(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    """Run one action of the registry: the registry checks the role (403) and the state (409)."""
    device = _device_for(request, pk)
    if action not in actions.ACTIONS:
        raise Http404
    params = {name: request.POST[name] for name in PORTAL_PARAMS if name in actions.ACTIONS[action].params and request.POST.get(name)}
    try:
        done = actions.perform(action, device=device, actor=request.user, reason=f"{action} from the portal", **params)
    except PermissionDenied as exc:
        return render(request, "portal/refused.html", {"reason": str(exc), "back": device}, status=403)
    except (ValidationError, StateConflict) as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{done.label} requested for {device.hostname}.")
        if done.name == "delete":
            return redirect("portal:project", pk=device.project_id)
    return redirect("portal:device", pk=device.pk)
