"""Staff screens for the hardware inventory. Saves go through apps.hardware.services (and so the audit
log); state changes only through server_transition, also in bulk."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.audit.admin import AuditedAdmin
from apps.audit.services import audit_record
from apps.facilities import admin as facilities_admin
from apps.facilities.models import Facility, Rack
from apps.hardware import services
from apps.hardware.admin_power import read_power_now, recent_power_events
from apps.hardware.commissioning import finding_waive
from apps.hardware.elevation import STATE_COLOURS, facility_elevations, legend_html, rack_elevation_svg
from apps.hardware.models import (
    BMC,
    Cable,
    CommissioningFinding,
    FindingStatus,
    NetworkInterface,
    Plan,
    Server,
    ServerState,
    Switch,
    SwitchPort,
)
from apps.hardware.onboarding import ImportRejected, rack_import


@admin.register(Plan)
class PlanAdmin(AuditedAdmin):
    list_display = ("slug", "line", "cpu_model", "cpu_count", "cpu_cores", "ram_gb", "nic_count", "nic_speed_gbps", "price_hourly")
    list_filter = ("line", "facilities")
    search_fields = ("slug", "name", "cpu_model")
    filter_horizontal = ("facilities",)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # The row itself is saved and audited by AuditedAdmin; the facilities it is sold in are a
        # many-to-many set, saved here, after it.
        super().save_related(request, form, formsets, change)
        if "facilities" in form.changed_data:
            audit_record(action="hardware.plan.facilities", target=form.instance, actor=request.user,
                         changes={"facilities": [sorted(str(f) for f in form.initial.get("facilities", [])),
                                                 sorted(str(f) for f in form.cleaned_data["facilities"])]})


class NetworkInterfaceInline(admin.TabularInline):
    model = NetworkInterface
    extra = 0
    fields = ("name", "mac", "speed_mbps", "cabled_to")
    readonly_fields = ("cabled_to",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # A tabular inline labels its inputs only by the column heading: give each (and its Delete box) a name
        # for screen readers.
        base = super().get_formset(request, obj, **kwargs)

        class LabelledFormSet(base):  # type: ignore[misc, valid-type]
            def add_fields(self, form: Any, index: Any) -> None:
                super().add_fields(form, index)
                for name, field in form.fields.items():
                    field.widget.attrs.setdefault("aria-label", str(field.label or name))

        return LabelledFormSet

    @admin.display(description="cabled to")
    def cabled_to(self, obj: NetworkInterface) -> str:
        cable = getattr(obj, "cable", None)
        return str(cable.port) if cable else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[NetworkInterface]:
        return super().get_queryset(request).select_related("cable__port__switch")


class KeepPasswordForm(forms.ModelForm):
    """A password field that is never sent back to the browser; left empty, it keeps the stored one."""

    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                               help_text="Encrypted at rest. Leave empty to keep the stored password.")

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            return password
        if self.instance.pk:
            return type(self.instance).objects.get(pk=self.instance.pk).password
        raise forms.ValidationError("A password is required.")


class BMCForm(KeepPasswordForm):
    class Meta:
        model = BMC
        fields = ("protocol", "host", "port", "username", "password", "cert_fingerprint")


class SwitchForm(KeepPasswordForm):
    class Meta:
        model = Switch
        fields = ("hostname", "facility", "rack", "position_u", "height_u", "os", "model", "mgmt_host", "mgmt_port", "username", "password",
                  "host_key_fingerprint")


class BMCInline(admin.StackedInline):
    model = BMC
    form = BMCForm
    extra = 0
    fields = ("protocol", "host", "port", "username", "password", "cert_fingerprint", "power_state", "power_state_at", "last_error")
    readonly_fields = ("power_state", "power_state_at", "last_error")


class FindingInline(admin.TabularInline):
    model = CommissioningFinding
    extra = 0
    fields = ("kind", "message", "status", "created_at", "close_reason")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "commissioning findings"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _transition_action(target: str, label: str) -> Any:
    def action(modeladmin: ServerAdmin, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        moved, refused = services.servers_transition(servers=list(queryset), to=target, actor=request.user,
                                                     reason=f"bulk action in the admin by {request.user}")
        if moved:
            modeladmin.message_user(request, f"{len(moved)} server(s) moved to {target}.", messages.SUCCESS)
        for serial, why in sorted(refused.items()):
            modeladmin.message_user(request, f"{serial}: {why}", messages.ERROR)

    action.__name__ = f"to_{target}"
    return admin.action(description=label, permissions=["change"])(action)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8, first line = column names.")
    dry_run = forms.BooleanField(required=False, help_text="Only check the file and say what would change.")


@admin.register(Server)
class ServerAdmin(AuditedAdmin):
    list_display = ("serial", "asset_tag", "plan", "facility", "rack", "position_u", "coloured_state", "state_changed_at")
    list_filter = ("state", "facility", "plan", "rack")
    search_fields = ("serial", "asset_tag", "interfaces__mac", "bmc__host", "rack__name")
    list_select_related = ("plan", "facility", "rack__facility")
    readonly_fields = ("id", "state", "state_changed_at", "state_reason", "created_at", "updated_at", "recent_power_events")
    fieldsets = (
        (None, {"fields": ("id", "serial", "asset_tag", "plan")}),
        ("Location", {"fields": ("facility", "rack", "position_u", "height_u")}),
        ("State", {"fields": ("state", "state_changed_at", "state_reason")}),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
        ("Power", {"fields": ("recent_power_events",)}),
    )
    recent_power_events = recent_power_events
    inlines = [BMCInline, NetworkInterfaceInline, FindingInline]
    actions = [
        # "Start commissioning" (the discovery boot) and "Put in maintenance" (which moves a customer's
        # device with its server) are the action registry's: apps.installs.admin adds them.
        _transition_action(ServerState.READY, "Return to the pool (ready)"),
        _transition_action(ServerState.CLEANING, "Send to cleaning"),
        _transition_action(ServerState.FAILED, "Mark failed"),
        _transition_action(ServerState.NEW, "Back to new (re-onboard)"),
        read_power_now,
    ]

    @admin.display(description="state", ordering="state")
    def coloured_state(self, obj: Server) -> str:
        return format_html('<span style="background:{};padding:1px 6px;border-radius:3px">{}</span>', STATE_COLOURS.get(obj.state, "#fff"),
                           obj.get_state_display())

    def has_delete_permission(self, request: HttpRequest, obj: Server | None = None) -> bool:
        # A server in the pool or in a customer's hands is taken out of service first (maintenance).
        return super().has_delete_permission(request, obj) and (obj is None or obj.state in services.DELETABLE_STATES)

    def delete_model(self, request: HttpRequest, obj: Server) -> None:
        services.server_delete(server=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            try:
                services.server_delete(server=server, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Server], search_term: str) -> tuple[QuerySet[Server], bool]:
        # A MAC typed in any spelling finds its server.
        from apps.hardware.fields import normalize_mac

        qs, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            mac = normalize_mac(search_term)
        except ValidationError:  # not a MAC: the ordinary search stands
            return qs, may_have_duplicates
        return qs | queryset.filter(interfaces__mac=mac), True

    def save_model(self, request: HttpRequest, obj: Server, form: forms.ModelForm, change: bool) -> None:
        fields = {k: form.cleaned_data[k] for k in ("serial", "asset_tag", "plan", "facility", "rack", "position_u", "height_u")}
        if change:
            services.server_update(server=obj, actor=request.user, **fields)
        else:
            obj.pk = services.server_create(actor=request.user, **fields).pk

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is BMC:
            # The admin's change message reads these; the service did the saving.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for bmc_form in formset.forms:
                data = getattr(bmc_form, "cleaned_data", None)
                if not data or not bmc_form.has_changed():
                    continue
                if data.get("DELETE"):
                    continue
                services.bmc_set(server=form.instance, protocol=data["protocol"], host=data["host"], port=data["port"],
                                 username=data["username"], password=data["password"], cert_fingerprint=data.get("cert_fingerprint", ""),
                                 actor=request.user)
            return
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit_record(action="hardware.interface.create", target=obj, changes={"mac": [None, obj.mac]}, actor=request.user)
        for obj, changed in formset.changed_objects:
            audit_record(action="hardware.interface.update", target=obj, changes={k: [None, str(getattr(obj, k))] for k in changed},
                         actor=request.user)
        for obj in formset.deleted_objects:
            audit_record(action="hardware.interface.delete", target=form.instance, changes={"interface": [str(obj), None]}, actor=request.user)

    def get_urls(self) -> list[Any]:
        return [path("import/", self.admin_site.admin_view(self.import_view), name="hardware_server_import"), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        errors: list[Any] = []
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                text = form.cleaned_data["file"].read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("file", "This file is not UTF-8 text; save it as CSV UTF-8 and upload it again.")
            else:
                try:
                    result = rack_import(text=text, actor=request.user, dry_run=form.cleaned_data["dry_run"])
                except ImportRejected as exc:
                    errors = exc.errors
                else:
                    self.message_user(request, f"{form.cleaned_data['file'].name}: {result}", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:hardware_server_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Import rack CSV", "form": form, "errors": errors,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/hardware/server/import.html", context, status=422 if errors else 200)


@admin.register(NetworkInterface)
class NetworkInterfaceAdmin(AuditedAdmin):
    list_display = ("server", "name", "mac", "speed_mbps", "cabled_to")
    search_fields = ("mac", "name", "server__serial")
    list_filter = ("server__facility",)
    list_select_related = ("server", "cable__port__switch")
    autocomplete_fields = ("server",)

    @admin.display(description="cabled to")
    def cabled_to(self, obj: NetworkInterface) -> str:
        cable = getattr(obj, "cable", None)
        return str(cable.port) if cable else "—"

    def save_model(self, request: HttpRequest, obj: NetworkInterface, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.interface_create(server=obj.server, name=obj.name, mac=obj.mac, speed_mbps=obj.speed_mbps, actor=request.user).pk


class SwitchPortInline(admin.TabularInline):
    model = SwitchPort
    extra = 0
    fields = ("name", "cabled_to")
    readonly_fields = ("cabled_to",)

    @admin.display(description="cabled to")
    def cabled_to(self, obj: SwitchPort) -> str:
        cable = getattr(obj, "cable", None)
        return str(cable.interface) if cable else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SwitchPort]:
        return super().get_queryset(request).select_related("cable__interface__server")


@admin.register(Switch)
class SwitchAdmin(AuditedAdmin):
    list_display = ("hostname", "facility", "rack", "position_u", "os", "model", "mgmt_host", "mgmt_port")
    list_filter = ("facility", "os", "rack")
    search_fields = ("hostname", "mgmt_host", "model")
    list_select_related = ("facility", "rack__facility")
    inlines = [SwitchPortInline]
    form = SwitchForm

    def save_model(self, request: HttpRequest, obj: Switch, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            data = {k: form.cleaned_data[k] for k in ("hostname", "facility", "rack", "position_u", "height_u", "model", "os", "mgmt_host",
                                                      "mgmt_port", "username", "password", "host_key_fingerprint")}
            obj.pk = services.switch_create(actor=request.user, **data).pk


@admin.register(SwitchPort)
class SwitchPortAdmin(AuditedAdmin):
    list_display = ("switch", "name")
    search_fields = ("name", "switch__hostname")
    list_filter = ("switch__facility",)
    list_select_related = ("switch",)

@admin.register(Cable)
class CableAdmin(AuditedAdmin):
    list_display = ("interface", "port", "created_at")
    search_fields = ("interface__mac", "interface__server__serial", "port__switch__hostname", "port__name")
    list_filter = ("port__switch__facility",)
    list_select_related = ("interface__server", "port__switch")
    autocomplete_fields = ("interface", "port")

    def save_model(self, request: HttpRequest, obj: Cable, form: forms.ModelForm, change: bool) -> None:
        if change:
            old = Cable.objects.get(pk=obj.pk)
            services.cable_disconnect(cable=old, actor=request.user)
            obj.pk = None
        obj.pk = services.cable_connect(interface=obj.interface, port=obj.port, actor=request.user).pk

    def delete_model(self, request: HttpRequest, obj: Cable) -> None:
        services.cable_disconnect(cable=obj, actor=request.user)

    # delete_queryset: AuditedAdmin's, one cable at a time through delete_model (cable_disconnect).


@admin.register(CommissioningFinding)
class CommissioningFindingAdmin(AuditedAdmin):
    list_display = ("server", "kind", "message", "status", "created_at")
    list_filter = ("status", "kind", "server__facility")
    search_fields = ("server__serial", "message")
    list_select_related = ("server",)
    readonly_fields = ("server", "report", "kind", "message", "status", "created_at", "closed_at", "closed_by", "close_reason")
    actions = ["waive"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Waive (accept the difference)", permissions=["change"])
    def waive(self, request: HttpRequest, queryset: QuerySet[CommissioningFinding]) -> None:
        count = 0
        for finding in queryset.filter(status=FindingStatus.OPEN):
            finding_waive(finding=finding, actor=request.user, reason=f"waived in the admin by {request.user}")
            count += 1
        self.message_user(request, f"{count} finding(s) waived.", messages.SUCCESS)


# ---------------------------------------------------------------------------------------------- rack elevations
# Facilities and racks are the facilities app's; their elevations are drawn from what this app mounts
# in them, so this app adds them to those screens (facilities imports nothing from hardware).
admin.site.unregister(Facility)
admin.site.unregister(Rack)


@admin.register(Facility)
class FacilityAdmin(facilities_admin.FacilityAdmin):
    readonly_fields = ("elevations",)

    @admin.display(description="Rack elevations")
    def elevations(self, obj: Facility) -> str:
        if not obj.pk:
            return "-"
        cells = format_html_join("", '<div style="display:inline-block;vertical-align:top;margin:0 12px 12px 0">'
                                     '<a href="{}">{}</a><br>{}</div>',
                                 ((reverse("admin:facilities_rack_change", args=[rack.pk]), rack.name, mark_safe(svg))  # noqa: S308 - SVG built from escaped values
                                  for rack, svg in facility_elevations(obj)))
        return format_html('<div>{}</div><div style="overflow-x:auto;white-space:nowrap">{}</div>', mark_safe(legend_html()), cells)  # noqa: S308


@admin.register(Rack)
class RackAdmin(facilities_admin.RackAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Rack | None = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "elevation")

    @admin.display(description="Elevation")
    def elevation(self, obj: Rack) -> str:
        if not obj.pk:
            return "-"
        return format_html("<div>{}</div>{}", mark_safe(legend_html()), mark_safe(rack_elevation_svg(obj)))  # noqa: S308
