"""Rack elevations: what occupies each U of a rack (derived from the servers and switches mounted in
it) and its picture as SVG, rendered on the server, coloured by state, each item linked to its admin page."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import escape

from apps.facilities.models import Facility, Rack
from apps.hardware.models import Server, ServerState, Switch

STATE_COLOURS = {
    ServerState.NEW: "#c7d2fe",
    ServerState.COMMISSIONING: "#a5f3fc",
    ServerState.READY: "#86efac",
    ServerState.ALLOCATED: "#fde68a",
    ServerState.PROVISIONING: "#fcd34d",
    ServerState.ACTIVE: "#60a5fa",
    ServerState.DEPROVISIONING: "#fdba74",
    ServerState.CLEANING: "#d8b4fe",
    ServerState.MAINTENANCE: "#d1d5db",
    ServerState.FAILED: "#f87171",
}
SWITCH_COLOUR = "#94a3b8"
EMPTY_COLOUR = "#f8fafc"
U_PX = 16
WIDTH = 300
LABEL_W = 34
TOP = 24


@dataclass(frozen=True)
class Occupant:
    kind: str  # "server" or "switch"
    label: str
    detail: str
    state: str
    position_u: int
    height_u: int
    url: str

    @property
    def colour(self) -> str:
        return SWITCH_COLOUR if self.kind == "switch" else STATE_COLOURS.get(self.state, EMPTY_COLOUR)


def _occupants_by_rack(racks: list[Rack]) -> dict[int, list[Occupant]]:
    """Two queries whatever the number of racks."""
    found: dict[int, list[Occupant]] = defaultdict(list)
    ids = [r.pk for r in racks]
    for pk, rack_id, serial, plan, state, u, h in Server.objects.filter(rack_id__in=ids).values_list(
            "pk", "rack_id", "serial", "plan__slug", "state", "position_u", "height_u"):
        found[rack_id].append(Occupant("server", serial, plan, state, u, h, reverse("admin:hardware_server_change", args=[pk])))
    for pk, rack_id, hostname, model, u, h in Switch.objects.filter(rack_id__in=ids).values_list(
            "pk", "rack_id", "hostname", "model", "position_u", "height_u"):
        found[rack_id].append(Occupant("switch", hostname, model, "", u, h, reverse("admin:hardware_switch_change", args=[pk])))
    for items in found.values():
        items.sort(key=lambda o: o.position_u, reverse=True)
    return found


def rack_occupants(rack: Rack) -> list[Occupant]:
    """What is mounted in `rack`, top first."""
    return _occupants_by_rack([rack]).get(rack.pk, [])


def render_svg(rack: Rack, occupants: list[Occupant]) -> str:
    """The front of `rack`: U numbers on the left (U1 at the bottom), each occupant a linked, coloured box."""
    height = TOP + rack.height_u * U_PX + 8
    used = sum(o.height_u for o in occupants)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="rack-elevation" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Rack {escape(str(rack))}" data-rack="{escape(str(rack))}" '
        f'font-family="sans-serif" font-size="10">',
        f'<text x="{WIDTH // 2}" y="15" text-anchor="middle" font-size="12" font-weight="bold">{escape(str(rack))} '
        f'({used}/{rack.height_u} U used)</text>',
    ]
    for u in range(1, rack.height_u + 1):
        y = TOP + (rack.height_u - u) * U_PX
        parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{WIDTH - LABEL_W - 4}" height="{U_PX}" fill="{EMPTY_COLOUR}" stroke="#e2e8f0"/>'
                     f'<text x="{LABEL_W - 4}" y="{y + U_PX - 4}" text-anchor="end" fill="#64748b">U{u}</text>')
    for o in occupants:
        top_u = o.position_u + o.height_u - 1
        y = TOP + (rack.height_u - top_u) * U_PX
        h = o.height_u * U_PX
        title = f"{o.kind} {o.label} · {o.detail}" + (f" · {o.state}" if o.state else "") + f" · U{o.position_u}" + (
            f"–U{top_u}" if o.height_u > 1 else "")
        parts.append(
            f'<a href="{escape(o.url)}" target="_top" data-kind="{o.kind}" data-u="{o.position_u}" data-state="{escape(o.state)}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{LABEL_W + 1}" y="{y + 1}" width="{WIDTH - LABEL_W - 6}" height="{h - 2}" rx="2" fill="{o.colour}" stroke="#334155"/>'
            f'<text x="{LABEL_W + 6}" y="{y + h // 2 + 4}" fill="#0f172a">{escape(o.label)}</text>'
            f'<text x="{WIDTH - 10}" y="{y + h // 2 + 4}" text-anchor="end" fill="#334155">{escape(o.detail)}'
            f'{" · " + escape(o.state) if o.state else ""}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def rack_elevation_svg(rack: Rack) -> str:
    return render_svg(rack, rack_occupants(rack))


def facility_elevations(facility: Facility) -> list[tuple[Rack, str]]:
    """Every rack of `facility` with its SVG, in three queries."""
    racks = list(Rack.objects.filter(facility=facility).select_related("facility").order_by("name"))
    occupants = _occupants_by_rack(racks)
    return [(rack, render_svg(rack, occupants.get(rack.pk, []))) for rack in racks]


def legend_html() -> str:
    items = [(state.label, STATE_COLOURS[state]) for state in ServerState] + [("switch", SWITCH_COLOUR)]
    return " ".join(f'<span style="display:inline-block;padding:1px 6px;margin:1px;background:{c};border:1px solid #334155">'
                    f"{escape(label)}</span>" for label, c in items)
