"""Staff power screens in the admin: "read the power state now", the recent power events of a server,
and the event list. The power actions themselves (on, off, reboot, next boot from the network) are
in the action registry (apps.installs.actions), which the Server admin renders."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.hardware import power
from apps.hardware.models import Server
from apps.hardware.power_models import PowerEvent

READ_NOW_MAX = 50  # servers read synchronously by one click; larger selections wait for the sync


@admin.action(description="Read power state now", permissions=["view"])
def read_power_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Server]) -> None:
    # A facility's BMCs are reachable only from inside it: the reads run on each facility's workers
    # (like every other device call), never in this web process.
    ids = list(queryset.values_list("pk", flat=True)[: READ_NOW_MAX + 1])
    if len(ids) > READ_NOW_MAX:
        modeladmin.message_user(request, f"Select at most {READ_NOW_MAX} servers to read at once; the scheduled "
                                         "power-state sync reads them all.", messages.WARNING)
        return
    facilities = power.power_state_read_request(server_ids=ids)
    modeladmin.message_user(request, f"Power-state read queued for {len(ids)} server(s) on the workers of "
                                     f"{', '.join(facilities) or 'no facility'}; the answers (and any drift) appear under "
                                     "Power events and on each BMC record.", messages.SUCCESS)


RECENT_EVENTS = 20


@admin.display(description="recent power events")
def recent_power_events(modeladmin: admin.ModelAdmin, obj: Server) -> str:
    # Read-only HTML rather than an inline: an inline formset would make every save of the server
    # form carry its management form.
    if obj is None or obj.pk is None:
        return "—"
    events = PowerEvent.objects.filter(server=obj).order_by("-created_at")[:RECENT_EVENTS]
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td></tr>",
        ((f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.get_action_display(), e.get_outcome_display(), e.attempt, e.duration_ms,
          e.power_state, e.message) for e in events),
    )
    if not rows:
        return "none yet"
    return format_html("<table><tr><th>when</th><th>action</th><th>outcome</th><th>attempt</th><th>took</th>"
                       "<th>state</th><th>message</th></tr>{}</table>", rows)


@admin.register(PowerEvent)
class PowerEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "server", "action", "outcome", "attempt", "duration_ms", "protocol", "power_state", "source", "worker")
    list_filter = ("outcome", "action", "protocol", "source", "server__facility")
    search_fields = ("server__serial", "message", "worker")
    list_select_related = ("server",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in PowerEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what was done to a machine is history
