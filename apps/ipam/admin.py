"""Staff screens for IP space: the block tree with utilisation bars, a block's free space, the
history of an address (who held it when). Every write goes through apps.ipam.services."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.http import urlencode

from apps.audit.admin import AuditedAdmin
from apps.ipam import selectors, services
from apps.ipam.models import Assignment, Block, Kind


def utilisation_bar(block: Block) -> str:
    """An inline CSS bar: allocated (light) and assigned (dark) share of the block."""
    if block.kind == Kind.ASSIGNMENT:
        return ""
    use = selectors.block_utilisation(block)
    allocated, assigned = use.allocated_percent, use.assigned_percent
    return format_html(
        '<div title="{} of {} addresses allocated ({}%), {} assigned ({}%)" '
        'style="width:160px;height:12px;background:#e8eef3;border:1px solid #9ab;position:relative;display:inline-block;vertical-align:middle">'
        '<div style="position:absolute;left:0;top:0;bottom:0;width:{}%;background:#8fb8de"></div>'
        '<div style="position:absolute;left:0;top:0;bottom:0;width:{}%;background:#2a6496"></div></div> '
        '<span style="font-size:11px">{}%</span>',
        f"{use.allocated:,}", f"{use.total:,}", f"{allocated:.1f}", f"{use.assigned:,}", f"{assigned:.1f}",
        f"{min(allocated, 100):.2f}", f"{min(assigned, 100):.2f}", f"{allocated:.1f}")


class BlockCreateForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=[(Kind.SUPERNET, "Supernet"), (Kind.POOL, "Facility pool")])
    public = forms.NullBooleanField(required=False, help_text="Leave unknown to follow the parent (or the address space).")

    class Meta:
        model = Block
        fields = ("network", "kind", "parent", "facility", "metro", "public", "description")


class ActiveFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("released", "Released (history)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(Block)
class BlockAdmin(AuditedAdmin):
    list_display = ("network_link", "kind", "scope", "project", "device_label", "utilisation", "assigned_at", "released_at", "tools")
    list_filter = ("kind", "family", "public", ActiveFilter, "facility")
    search_fields = ("device_label", "description", "project__name")
    list_select_related = ("facility", "metro", "project__organization", "parent")
    list_per_page = 50
    readonly_fields = ("family", "prefix_length", "parent", "kind", "network", "project", "server", "device_id", "device_label", "gateway",
                       "assigned_at", "released_at", "utilisation", "tools")
    raw_id_fields = ("parent",)
    actions = ["release_selected"]
    change_list_template = "admin/ipam/block/change_list.html"

    def get_form(self, request: HttpRequest, obj: Block | None = None, **kwargs: Any) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = BlockCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Block | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (*self.readonly_fields, "facility", "metro")

    def get_fields(self, request: HttpRequest, obj: Block | None = None) -> list[str]:
        if obj is None:
            return ["network", "kind", "parent", "facility", "metro", "public", "description"]
        return ["network", "kind", "parent", "facility", "metro", "public", "description", "project", "server", "device_id",
                "device_label", "gateway", "assigned_at", "released_at", "utilisation", "tools"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Block]:
        qs = super().get_queryset(request)
        # The tree view: with no filter or search, the roots; "children" links walk down.
        if not request.GET or set(request.GET) <= {"o", "p"}:
            qs = qs.filter(parent__isnull=True)
        return qs

    @admin.display(description="network", ordering="first")
    def network_link(self, block: Block) -> str:
        return format_html('<a href="{}"><code>{}</code></a>', reverse("admin:ipam_block_change", args=[block.pk]), block.network)

    @admin.display(description="facility / metro")
    def scope(self, block: Block) -> str:
        return block.facility.code if block.facility_id else (block.metro.code if block.metro_id else "")

    @admin.display(description="utilisation")
    def utilisation(self, block: Block) -> str:
        return utilisation_bar(block) if block.pk else ""

    @admin.display(description="")
    def tools(self, block: Block) -> str:
        if not block.pk:
            return ""
        children = reverse("admin:ipam_block_changelist") + "?" + urlencode({"parent__id__exact": block.pk, "status": "active"})
        free = reverse("admin:ipam_block_free", args=[block.pk])
        history = reverse("admin:ipam_block_history") + "?" + urlencode({"address": str(block.ip_network.network_address)})
        if block.kind == Kind.ASSIGNMENT:
            return format_html('<a href="{}">history</a>', history)
        return format_html('<a href="{}">children</a> · <a href="{}">free space</a> · <a href="{}">history</a>', children, free, history)

    def save_model(self, request: HttpRequest, obj: Block, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.block_update(block=obj, description=form.cleaned_data.get("description", obj.description),
                                  public=form.cleaned_data.get("public"), actor=request.user)
            return
        data = form.cleaned_data
        created = services.block_create(network=data["network"], kind=data["kind"], parent=data.get("parent"), facility=data.get("facility"),
                                        metro=data.get("metro"), public=data.get("public"), description=data.get("description", ""),
                                        actor=request.user)
        obj.pk = created.pk

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            # The service refused (overlap, outside its parent …): say why and offer the form again.
            self.message_user(request, f"The block was not created: {' '.join(exc.messages)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_model(self, request: HttpRequest, obj: Block) -> None:
        services.block_delete(block=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Block]) -> None:
        for block in queryset:
            services.block_delete(block=block, actor=request.user)

    @admin.action(description="Release selected reservations and assignments (kept as history)")
    def release_selected(self, request: HttpRequest, queryset: QuerySet[Block]) -> None:
        done = 0
        for block in queryset.order_by("-prefix_length"):  # assignments before their reservations
            try:
                services.block_release(block=block, actor=request.user, reason="released by staff in the admin")
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{block.network}: {' '.join(exc.messages)}", messages.WARNING)
        self.message_user(request, f"Released {done} block(s).")

    # ------------------------------------------------------------------ extra views

    def get_urls(self) -> list:
        extra = [
            path("<int:pk>/free/", self.admin_site.admin_view(self.free_view), name="ipam_block_free"),
            path("history/", self.admin_site.admin_view(self.history_view), name="ipam_block_history"),
        ]
        return extra + super().get_urls()

    def free_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        block = get_object_or_404(Block, pk=pk)
        start = None
        if request.GET.get("start"):
            try:
                start = int(selectors.parse_address(request.GET["start"], field="start"))
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
        page = selectors.block_free_space(block, start=start, limit=100)
        next_start = None
        if page.next_start is not None:
            next_start = str(selectors.network_at(block.family, page.next_start, selectors.BITS[block.family]).network_address)
        return TemplateResponse(request, "admin/ipam/block/free.html", {
            **self.admin_site.each_context(request), "title": f"Free space of {block.network}", "ip_block": block,
            "free": [(n, n.num_addresses) for n in page.blocks], "next_start": next_start, "bar": utilisation_bar(block),
            "opts": self.model._meta,
        })

    def history_view(self, request: HttpRequest) -> HttpResponse:
        address = request.GET.get("address", "").strip()
        at_text = request.GET.get("at", "").strip()
        rows: list[Block] = []
        held: list[Assignment] | None = None
        if address:
            try:
                rows = list(selectors.address_history(address)[:500])
                if at_text:
                    at = parse_datetime(at_text)
                    if at is None:
                        raise ValidationError(f"'{at_text}' is not a date and time; write it as 2026-03-04 12:00 (UTC).")
                    if at.tzinfo is None:
                        at = at.replace(tzinfo=dt.UTC)
                    held = selectors.who_held(address, at)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
        return TemplateResponse(request, "admin/ipam/block/history.html", {
            **self.admin_site.each_context(request), "title": "Address history", "address": address, "at": at_text, "rows": rows,
            "held": held, "opts": self.model._meta,
        })


@admin.register(Assignment)
class AssignmentAdmin(AuditedAdmin):
    """Every assignment, active and past: the abuse desk's list (search by address through History)."""

    list_display = ("network", "address", "gateway", "project", "device_label", "server", "assigned_at", "released_at")
    list_filter = (ActiveFilter, "family", "public")
    search_fields = ("device_label", "project__name", "=device_id")
    list_select_related = ("project__organization", "server")
    date_hierarchy = "assigned_at"
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
