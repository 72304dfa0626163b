"""Staff screens for switch automation: each switch's pushes, diffs and drift with a re-apply button;
each port's desired versus running configuration. Everything here is read-only; actions call services."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.audit.admin import AuditedAdmin
from apps.network import selectors, services
from apps.network.models import ConfigPush, ManagedSwitch, PortConfig, PortDrift, PushOutcome


def _pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text or "—")


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---------------------------------------------------------------------------------------------- inlines


class PortConfigInline(ReadOnlyMixin, admin.TabularInline):
    model = PortConfig
    fk_name = "switch"
    extra = 0
    fields = ("port_link", "mode", "server", "description", "state", "applied_at")
    readonly_fields = fields
    ordering = ("port__name",)
    verbose_name_plural = "managed ports (desired state)"

    @admin.display(description="port")
    def port_link(self, obj: PortConfig) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:network_portconfig_change", args=[obj.pk]), obj.port.name)

    @admin.display(description="state")
    def state(self, obj: PortConfig) -> str:
        return "pending" if obj.pending else "applied"


class ConfigPushInline(ReadOnlyMixin, admin.TabularInline):
    model = ConfigPush
    fk_name = "switch"
    extra = 0
    fields = ("push_link", "outcome", "started_at", "duration_ms", "requested_by", "port_count", "short_error")
    readonly_fields = fields
    ordering = ("-started_at", "-pk")
    verbose_name_plural = "pushes (the newest 20)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConfigPush]:
        # The newest 20: a busy switch has thousands of pushes; the push list has them all.
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if object_id is None:
            return super().get_queryset(request).none()
        newest = list(ConfigPush.objects.filter(switch_id=object_id).order_by("-started_at", "-pk").values_list("pk", flat=True)[:20])
        return super().get_queryset(request).filter(pk__in=newest)

    @admin.display(description="push")
    def push_link(self, obj: ConfigPush) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:network_configpush_change", args=[obj.pk]), obj.pk)

    @admin.display(description="ports")
    def port_count(self, obj: ConfigPush) -> int:
        return len(obj.ports)

    @admin.display(description="error")
    def short_error(self, obj: ConfigPush) -> str:
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error


class OpenDriftInline(ReadOnlyMixin, admin.TabularInline):
    model = PortDrift
    fk_name = "switch"
    extra = 0
    fields = ("port", "detected_at", "last_seen_at", "summary")
    readonly_fields = fields
    verbose_name_plural = "open drift (hand changes found by the drift check)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PortDrift]:
        return super().get_queryset(request).filter(resolved_at__isnull=True).select_related("port")


# ---------------------------------------------------------------------------------------------- switches


@admin.register(ManagedSwitch)
class ManagedSwitchAdmin(AuditedAdmin):
    list_display = ("hostname", "facility", "managed", "pending", "open_drift", "last_push", "last_drift_check")
    list_filter = ("facility",)
    search_fields = ("hostname", "mgmt_host")
    fields = ("hostname", "facility", "os", "model", "management", "host_key_fingerprint", "sync_state", "last_diff")
    readonly_fields = fields
    inlines = [OpenDriftInline, ConfigPushInline, PortConfigInline]
    actions = ["reapply", "check_drift"]
    change_form_template = "admin/network/managedswitch/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ManagedSwitch]:
        last = ConfigPush.objects.filter(switch=OuterRef("pk")).order_by("-started_at", "-pk")
        return (super().get_queryset(request).select_related("facility", "sync")
                .annotate(last_push_pk=Subquery(last.values("pk")[:1]), last_push_outcome=Subquery(last.values("outcome")[:1]),
                          n_managed=Count("port_configs", distinct=True),
                          n_pending=Count("port_configs", filter=Q(port_configs__desired_version__gt=F("port_configs__applied_version")), distinct=True),
                          n_drift=Count("drifts", filter=Q(drifts__resolved_at__isnull=True), distinct=True)))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the switch itself is edited in the hardware admin; here staff look and re-apply

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("network.view_portconfig") or self.has_reapply_permission(request)

    def has_reapply_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("network.change_portconfig")

    @admin.display(description="managed ports", ordering="n_managed")
    def managed(self, obj: Any) -> int:
        return obj.n_managed

    @admin.display(description="pending", ordering="n_pending")
    def pending(self, obj: Any) -> int:
        return obj.n_pending

    @admin.display(description="open drift", ordering="n_drift")
    def open_drift(self, obj: Any) -> str:
        return format_html('<strong style="color:#ba2121">{}</strong>', obj.n_drift) if obj.n_drift else "0"

    @admin.display(description="last push")
    def last_push(self, obj: Any) -> str:
        if obj.last_push_pk is None:
            return "—"
        return format_html('<a href="{}">#{} {}</a>', reverse("admin:network_configpush_change", args=[obj.last_push_pk]), obj.last_push_pk,
                           obj.last_push_outcome)

    @admin.display(description="last drift check")
    def last_drift_check(self, obj: ManagedSwitch) -> str:
        sync = getattr(obj, "sync", None)
        if sync is None or sync.last_drift_check_at is None:
            return "never"
        return f"{sync.last_drift_check_at:%Y-%m-%d %H:%M} UTC" + (" (failed)" if sync.last_drift_error else "")

    @admin.display(description="management")
    def management(self, obj: ManagedSwitch) -> str:
        return f"{obj.username}@{obj.mgmt_host}:{obj.mgmt_port} (NETCONF over SSH)"

    @admin.display(description="sync")
    def sync_state(self, obj: ManagedSwitch) -> str:
        sync = getattr(obj, "sync", None)
        if sync is None:
            return "never pushed"
        parts = [f"{sync.consecutive_failures} failure(s) in a row"]
        if sync.next_attempt_at:
            parts.append(f"next automatic retry after {sync.next_attempt_at:%H:%M:%S} UTC")
        if sync.lease_owner:
            parts.append("a push is running")
        if sync.last_drift_error:
            parts.append(f"last drift check failed: {sync.last_drift_error}")
        return "; ".join(parts)

    @admin.display(description="last diff committed")
    def last_diff(self, obj: ManagedSwitch) -> str:
        push = ConfigPush.objects.filter(switch_id=obj.pk, outcome=PushOutcome.COMMITTED).order_by("-started_at", "-pk").first()
        return _pre(push.diff) if push else "—"

    @admin.action(description="Re-apply the desired state of all managed ports", permissions=["reapply"])
    def reapply(self, request: HttpRequest, queryset: QuerySet[ManagedSwitch]) -> None:
        total = sum(services.switch_reapply(switch=switch, actor=request.user, reason="re-apply from the admin") for switch in queryset)
        self.message_user(request, f"{total} port(s) on {queryset.count()} switch(es) queued for a push.", messages.SUCCESS)

    @admin.action(description="Check drift now", permissions=["reapply"])
    def check_drift(self, request: HttpRequest, queryset: QuerySet[ManagedSwitch]) -> None:
        # A switch's management network is reachable only from its facility: the check runs on the
        # facility's workers like every other device call, never in this web process.
        queued = services.switch_drift_check_request(switch_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Drift check queued for {queued} switch(es) on their facility workers; "
                                   "the result appears under Port drift and on each switch's page.", messages.SUCCESS)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "can_reapply": self.has_reapply_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list:
        return [
            path("<path:object_id>/reapply/", self.admin_site.admin_view(self.reapply_view), name="network_managedswitch_reapply"),
            path("<path:object_id>/check-drift/", self.admin_site.admin_view(self.check_drift_view), name="network_managedswitch_check_drift"),
        ] + super().get_urls()

    def reapply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        switch = get_object_or_404(ManagedSwitch, pk=object_id)
        if request.method == "POST" and self.has_reapply_permission(request):
            self.reapply(request, ManagedSwitch.objects.filter(pk=switch.pk))
        return HttpResponseRedirect(reverse("admin:network_managedswitch_change", args=[switch.pk]))

    def check_drift_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        switch = get_object_or_404(ManagedSwitch, pk=object_id)
        if request.method == "POST" and self.has_reapply_permission(request):
            self.check_drift(request, ManagedSwitch.objects.filter(pk=switch.pk))
        return HttpResponseRedirect(reverse("admin:network_managedswitch_change", args=[switch.pk]))


# ---------------------------------------------------------------------------------------------- pushes


@admin.register(ConfigPush)
class ConfigPushAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "switch", "outcome", "started_at", "duration_ms", "requested_by", "port_count", "attempt")
    list_filter = ("outcome", "switch__facility")
    search_fields = ("switch__hostname", "requested_by", "reason", "error")
    list_select_related = ("switch",)
    date_hierarchy = "started_at"
    fields = ("switch", "outcome", "requested_by", "reason", "port_list", "started_at", "finished_at", "duration_ms", "attempt",
              "committed", "error_step", "error", "retryable", "step_timings", "diff_text", "config_text")
    readonly_fields = fields

    @admin.display(description="ports")
    def port_count(self, obj: ConfigPush) -> int:
        return len(obj.ports)

    @admin.display(description="ports")
    def port_list(self, obj: ConfigPush) -> str:
        return ", ".join(obj.ports)

    @admin.display(description="steps (seconds)")
    def step_timings(self, obj: ConfigPush) -> str:
        return format_html_join(", ", "{} {}", ((name, seconds) for name, seconds in obj.steps)) if obj.steps else "—"

    @admin.display(description="diff (the switch's own compare, before commit)")
    def diff_text(self, obj: ConfigPush) -> str:
        return _pre(obj.diff)

    @admin.display(description="configuration loaded")
    def config_text(self, obj: ConfigPush) -> str:
        return _pre(obj.config)


# ---------------------------------------------------------------------------------------------- ports


@admin.register(PortConfig)
class PortConfigAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("port", "switch", "mode", "server", "is_pending", "applied_at", "running_read_at")
    list_filter = ("mode", "switch__facility")
    search_fields = ("port__name", "switch__hostname", "server__serial", "description")
    list_select_related = ("port", "switch", "server")
    fields = ("port", "switch", "server", "mode", "description", "mtu", "addresses", "versions", "changed_at", "changed_by", "change_reason",
              "applied_at", "running_read_at", "comparison")
    readonly_fields = fields
    actions = ["reapply"]

    @admin.display(description="pending", boolean=True)
    def is_pending(self, obj: PortConfig) -> bool:
        return obj.pending

    @admin.display(description="version")
    def versions(self, obj: PortConfig) -> str:
        return f"desired {obj.desired_version}, applied {obj.applied_version}" + (" (push pending)" if obj.pending else "")

    @admin.display(description="desired versus running")
    def comparison(self, obj: PortConfig) -> str:
        cmp = selectors.port_desired_vs_running(obj)
        if cmp.error:
            return cmp.error
        verdict = "in line" if cmp.in_line else "DIFFERENT"
        table = format_html(
            '<table><tr><th>desired ({})</th><th>running (read {})</th></tr><tr><td>{}</td><td>{}</td></tr></table>',
            "pending push" if obj.pending else "applied", obj.running_read_at or "never", _pre("\n".join(cmp.expected)), _pre("\n".join(cmp.running)))
        details = format_html("<p><strong>{}</strong></p>", verdict)
        if not cmp.in_line:
            details = format_html("<p><strong>{}</strong>: missing {}; unexpected {}</p>", verdict,
                                  ", ".join(cmp.missing) or "nothing", ", ".join(cmp.unexpected) or "nothing")
        return details + table

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("network.view_portconfig") or request.user.has_perm("network.change_portconfig")

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.has_perm("network.change_portconfig"):
            actions.pop("reapply", None)
        return actions

    @admin.action(description="Re-apply the desired state of the selected ports")
    def reapply(self, request: HttpRequest, queryset: QuerySet[PortConfig]) -> None:
        total = 0
        for switch in ManagedSwitch.objects.filter(pk__in=queryset.values("switch_id")):
            total += services.switch_reapply(switch=switch, actor=request.user, reason="re-apply from the admin",
                                             ports=[c.port for c in queryset.filter(switch=switch).select_related("port")])
        self.message_user(request, f"{total} port(s) queued for a push.", messages.SUCCESS)


@admin.register(PortDrift)
class PortDriftAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("port", "switch", "detected_at", "last_seen_at", "is_open", "resolution")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "switch__facility")
    search_fields = ("port__name", "switch__hostname", "summary")
    list_select_related = ("port", "switch")
    fields = ("port", "switch", "detected_at", "last_seen_at", "summary", "expected_text", "running_text", "resolved_at", "resolution",
              "resolved_by_push")
    readonly_fields = fields
    actions = ["reapply"]

    @admin.display(description="open", boolean=True)
    def is_open(self, obj: PortDrift) -> bool:
        return obj.is_open

    @admin.display(description="expected")
    def expected_text(self, obj: PortDrift) -> str:
        return _pre("\n".join(obj.expected))

    @admin.display(description="running when found")
    def running_text(self, obj: PortDrift) -> str:
        return _pre("\n".join(obj.running))

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.has_perm("network.change_portconfig"):
            actions.pop("reapply", None)
        return actions

    @admin.action(description="Re-apply the desired state of these ports")
    def reapply(self, request: HttpRequest, queryset: QuerySet[PortDrift]) -> None:
        total = 0
        for switch in ManagedSwitch.objects.filter(pk__in=queryset.values("switch_id")):
            total += services.switch_reapply(switch=switch, actor=request.user, reason="re-apply after drift",
                                             ports=[d.port for d in queryset.filter(switch=switch).select_related("port")])
        self.message_user(request, f"{total} port(s) queued for a push.", messages.SUCCESS)
