"""The staff overview: per facility, servers by state, ready capacity per plan, installs running now and those
that failed in the last day with their reasons, switches whose pushes are pending or failing, BMCs failing
power sync, and the rack elevations. Read-only; every count is one grouped query whatever the fleet's size."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from apps.facilities.models import Facility
from apps.hardware.elevation import facility_elevations
from apps.hardware.models import BMC, Server, ServerState, Switch
from apps.installs.models import Install
from apps.portal.views.deploy import available_now

FAILED_WINDOW = timedelta(hours=24)
LIST_LIMIT = 50


def _state_rows(by_state: dict[str, dict[str, int]], states: list[str]) -> list[tuple[str, list[int], int, int]]:
    """One row a server state (facilities across, so that ten states do not make the table wider than the admin's
    page): its count in each facility, in all, and its share of all servers in percent, for the bar."""
    codes = sorted(by_state)
    everything = sum(sum(counts.values()) for counts in by_state.values()) or 1
    rows = []
    for state in states:
        counts = [by_state[code].get(state, 0) for code in codes]
        rows.append((state, counts, sum(counts), round(100 * sum(counts) / everything)))
    return rows


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    facilities = list(Facility.objects.select_related("metro").order_by("code"))
    chosen = next((f for f in facilities if f.code == request.GET.get("facility")), None)
    servers = Server.objects.filter(facility=chosen) if chosen else Server.objects.all()
    by_state: dict[str, dict[str, int]] = {}
    for row in servers.values("facility__code", "state").annotate(n=Count("pk")).order_by():
        by_state.setdefault(row["facility__code"], {})[row["state"]] = row["n"]
    states = [s.value for s in ServerState]
    ready = {key: n for key, n in available_now().items() if chosen is None or key[1] == chosen.code}
    installs = Install.objects.select_related("device__project", "server__facility", "operating_system")
    if chosen:
        installs = installs.filter(Q(server__facility=chosen) | Q(device__facility=chosen))
    since = timezone.now() - FAILED_WINDOW
    switches = Switch.objects.select_related("facility", "sync").annotate(
        failed_pushes=Count("config_pushes", filter=Q(config_pushes__outcome="failed", config_pushes__started_at__gte=since)))
    switches = switches.filter(Q(sync__push_queued_at__isnull=False) | Q(sync__consecutive_failures__gt=0) | Q(failed_pushes__gt=0))
    bmcs = BMC.objects.exclude(last_error="").select_related("server__facility")
    if chosen:
        switches, bmcs = switches.filter(facility=chosen), bmcs.filter(server__facility=chosen)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": f"Overview of {chosen.code}" if chosen else "Overview of every facility",
        "facilities": facilities, "chosen": chosen, "states": states,
        "state_columns": sorted(by_state), "by_state": _state_rows(by_state, states),
        "ready": sorted(((plan, facility, n) for (plan, facility), n in ready.items()), key=lambda r: (r[1], r[0])),
        "running": list(installs.filter(state="running").order_by("-created_at")[:LIST_LIMIT]),
        "recent": list(installs.filter(created_at__gte=since).order_by("-created_at")[:LIST_LIMIT]),
        "failed": list(installs.filter(state="failed", state_changed_at__gte=since).order_by("-state_changed_at")[:LIST_LIMIT]),
        "switches": list(switches.order_by("hostname")[:LIST_LIMIT]), "bmcs": list(bmcs.order_by("server__serial")[:LIST_LIMIT]),
        "elevations": [(rack, mark_safe(svg)) for rack, svg in facility_elevations(chosen)] if chosen else [],  # noqa: S308 - drawn from escaped model text
    }
    return render(request, "portal/staff/overview.html", context)
