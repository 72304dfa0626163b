"""Staff screens for the installs app: the OS catalog, devices and servers with the action registry's
actions (apps.installs.actions), and install runs with their timeline drawn as a bar per step."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from apps.audit.admin import AuditedAdmin
from apps.hardware import admin as hardware_admin
from apps.hardware.models import Server, SwitchPort
from apps.hardware.power import NoUsableBmc
from apps.installs.actions import ACTIONS, Action, perform
from apps.installs.models import Device, DiscoveredMachine, HardwareReservation, Install, InstallEvent, OperatingSystem
from apps.installs.selectors import install_percentage, install_timeline
from apps.installs.services import reservations, workflow
from apps.network.models import ConfigPush
from project.states import StateConflict


@admin.register(OperatingSystem)
class OperatingSystemAdmin(AuditedAdmin):
    list_display = ("slug", "name", "distro", "version", "image_size", "provisionable")
    list_filter = ("distro", "provisionable")
    search_fields = ("slug", "name")
    filter_horizontal = ("plans",)


def timeline_svg(install: Install) -> SafeString:
    """One bar per event: where it started and how long the step before it took, with its type."""
    entries = install_timeline(install)
    if not entries:
        return mark_safe("<em>no events yet</em>")  # noqa: S308 - constant
    total = max(entries[-1].seconds_since_start, 0.001)
    width, row, label_w = 720, 18, 260
    scale = (width - label_w - 70) / total
    rows = []
    for i, entry in enumerate(entries):
        x = label_w + (entry.seconds_since_start - entry.took) * scale
        w = max(entry.took * scale, 2)
        colour = "#c0392b" if entry.type == "provisioning.failed" else ("#2980b9" if entry.source == "machine" else "#27ae60")
        # Numbers are formatted before format_html, which escapes its arguments into strings (a "{:.1f}" of
        # one raised ValueError, and the admin showed "-" instead of the timeline).
        rows.append(format_html(
            '<text x="0" y="{}" font-size="11">{} {}</text>'
            '<rect x="{}" y="{}" width="{}" height="12" fill="{}"><title>{}</title></rect>'
            '<text x="{}" y="{}" font-size="10">{} s</text>',
            i * row + 12, entry.type, entry.body[:28], f"{x:.1f}", i * row + 2, f"{w:.1f}", colour, entry.body, f"{x + w + 4:.1f}",
            i * row + 12, f"{entry.took:.2f}"))
    height = len(entries) * row + 6
    body = format_html_join("", "{}", ((r,) for r in rows))
    return format_html('<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
                       'aria-label="install timeline">{}</svg><div>green: platform · blue: machine · red: failure; '
                       'total {} s</div>', width, height, body, f"{total:.2f}")


class InstallEventInline(admin.TabularInline):
    model = InstallEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "type", "body", "source")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Install)
class InstallAdmin(AuditedAdmin):
    list_display = ("id", "kind", "device", "server", "state", "step", "percentage", "created_at", "finished_at")
    list_filter = ("kind", "state", "step")
    search_fields = ("id", "device__hostname", "server__serial")
    readonly_fields = ("kind", "device", "server", "operating_system", "state", "step", "step_attempts", "deadline", "failure_reason",
                       "created_at", "admitted_at", "started_at", "finished_at", "device_seconds", "timeline")
    exclude = ("secret",)
    inlines = [InstallEventInline]
    list_select_related = ("device", "server")
    actions = ["fail_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="%")
    def percentage(self, obj: Install) -> int:
        return install_percentage(obj)

    @admin.display(description="timeline")
    def timeline(self, obj: Install) -> SafeString:
        return timeline_svg(obj)

    @admin.action(description="Fail the selected open runs (clean up: addresses released, port isolated, server to maintenance)")
    def fail_selected(self, request: HttpRequest, queryset: QuerySet[Install]) -> None:
        for install in queryset.filter(state__in=Install.OPEN):
            workflow.install_fail(install=install, reason=f"failed by {request.user}", actor=request.user)
        self.message_user(request, "Done.")


def registry_admin_action(action: Action, *, subject: str) -> Any:
    """An admin action (on devices or on servers) that runs one registry action per selected row."""
    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = 0, []
        for obj in queryset:
            try:
                perform(action.name, **{subject: obj}, actor=request.user, staff=True, reason=f"{action.label} from the admin")
                done += 1
            except (StateConflict, ValidationError, PermissionDenied, NoUsableBmc) as exc:
                refused.append(f"{obj}: {' '.join(exc.messages) if isinstance(exc, ValidationError) else exc}")
        if done:
            modeladmin.message_user(request, f"{action.label}: requested for {done} {subject}(s); the outcome appears in "
                                             "their history (and under Power events).", messages.SUCCESS)
        for why in refused[:10]:
            modeladmin.message_user(request, why, messages.ERROR)

    run.__name__ = action.name
    return admin.action(description=action.label, permissions=["view"])(run)


@admin.register(Device)
class DeviceAdmin(AuditedAdmin):
    list_display = ("hostname", "project", "plan", "facility", "operating_system", "server", "state", "created_at")
    list_filter = ("state", "plan", "facility")
    search_fields = ("hostname", "id", "server__serial")
    readonly_fields = ("state", "state_changed_at", "failure_reason", "server", "created_by", "created_at", "updated_at")
    list_select_related = ("project", "plan", "facility", "operating_system", "server")
    actions = [registry_admin_action(action, subject="device") for action in ACTIONS.values()]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders go through the API or the portal, which run the checks

    def get_readonly_fields(self, request: HttpRequest, obj: Device | None = None) -> tuple[str, ...]:
        # What a customer ordered is changed by the customer (or the registry's actions), never by a
        # staff form: moving a device to another project or rewriting its keys left no trace.
        return tuple(field.name for field in Device._meta.fields)

    def has_delete_permission(self, request: HttpRequest, obj: Device | None = None) -> bool:
        # Django's own delete would drop the row with no wipe, no address release and no port
        # isolation: a device is deleted only by the registry's "Delete" action (device_delete).
        return False


# The hardware app's Server screen, plus the registry's actions that apply to a server. They live here
# because a server's live device moves with it, and devices are this app's.
admin.site.unregister(Server)


@admin.register(Server)
class ServerAdmin(hardware_admin.ServerAdmin):
    """The hardware app's Server screen, plus the registry's actions and the server's history as installs and
    switch pushes know it: its recent install runs (each with its timeline) and its switch ports' recent pushes."""

    actions = [*hardware_admin.ServerAdmin.actions,
               *(registry_admin_action(action, subject="server") for action in ACTIONS.values() if action.server_states)]
    readonly_fields = (*hardware_admin.ServerAdmin.readonly_fields, "recent_installs", "recent_switch_pushes")
    fieldsets = (*hardware_admin.ServerAdmin.fieldsets,
                 ("Installs and switch pushes", {"fields": ("recent_installs", "recent_switch_pushes")}))

    @admin.display(description="recent install runs")
    def recent_installs(self, obj: Server) -> SafeString:
        runs = list(Install.objects.filter(server=obj).select_related("device").prefetch_related("events").order_by("-created_at")[:5])
        if not runs:
            return mark_safe("<em>none</em>")  # noqa: S308 - constant
        return format_html_join("", "<p><a href='{}'>{} {} — {}</a> ({} %)</p>{}", (
            (reverse("admin:installs_install_change", args=[run.pk]), run.kind, run.device.hostname if run.device else "",
             run.state, install_percentage(run, list(run.events.all())), timeline_svg(run)) for run in runs))

    @admin.display(description="recent pushes to its switch ports")
    def recent_switch_pushes(self, obj: Server) -> SafeString:
        ports = dict(SwitchPort.objects.filter(cable__interface__server=obj).values_list("name", "switch_id"))
        pushes = [push for push in ConfigPush.objects.filter(switch_id__in=set(ports.values())).select_related("switch")[:50]
                  if set(push.ports) & set(ports)][:10]
        if not pushes:
            return mark_safe("<em>none</em>")  # noqa: S308 - constant
        return format_html_join("", "<p><a href='{}'>{} {}</a>: {} ({}){}</p>", (
            (reverse("admin:network_configpush_change", args=[push.pk]), push.started_at.strftime("%Y-%m-%d %H:%M:%S"), push.switch,
             push.get_outcome_display(), ", ".join(sorted(set(push.ports) & set(ports))), f" — {push.error}" if push.error else "")
            for push in pushes))


@admin.register(DiscoveredMachine)
class DiscoveredMachineAdmin(AuditedAdmin):
    list_display = ("mac", "address", "first_seen", "last_seen")
    readonly_fields = ("mac", "address", "inventory", "first_seen", "last_seen")


@admin.register(HardwareReservation)
class HardwareReservationAdmin(AuditedAdmin):
    """Staff reserve a server for a project (through hardware_reservation_create, which checks the server)."""

    list_display = ("pk", "project", "server", "starts_at", "ends_at", "custom_rate", "created_at")
    search_fields = ("server__serial", "project__name")
    fields = ("project", "server", "starts_at", "ends_at", "custom_rate")
    autocomplete_fields = ("server",)

    def has_change_permission(self, request: HttpRequest, obj: HardwareReservation | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: HardwareReservation | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: HardwareReservation, form: object, change: bool) -> None:
        saved = reservations.hardware_reservation_create(project=obj.project, server=obj.server, starts_at=obj.starts_at, ends_at=obj.ends_at,
                                                         custom_rate=obj.custom_rate, actor=request.user)
        obj.pk = saved.pk
