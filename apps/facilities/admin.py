"""Staff screens for metros, facilities and racks, with rack elevations (pictures come from apps.hardware.elevation)."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.audit.services import audit_record
from apps.facilities import services
from apps.facilities.models import Facility, Metro, Rack
from apps.hardware.elevation import facility_elevations, legend_html, rack_elevation_svg
from apps.hardware.models import RackUnit


def _audit_change(request: HttpRequest, obj: object, form: forms.ModelForm, action: str) -> None:
    audit_record(action=action, target=obj, changes={k: [str(form.initial.get(k)), str(form.cleaned_data.get(k))] for k in form.changed_data},
                 actor=request.user)


@admin.register(Metro)
class MetroAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "country")
    search_fields = ("code", "name")

    def save_model(self, request: HttpRequest, obj: Metro, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            _audit_change(request, obj, form, "facilities.metro.update")
        else:
            obj.pk = services.metro_create(code=obj.code, name=obj.name, country=obj.country, actor=request.user).pk


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "metro", "rack_count")
    list_filter = ("metro",)
    search_fields = ("code", "name")
    readonly_fields = ("elevations",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Facility]:
        return super().get_queryset(request).select_related("metro").annotate(n_racks=Count("racks"))

    @admin.display(description="racks", ordering="n_racks")
    def rack_count(self, obj: Facility) -> int:
        return obj.n_racks

    @admin.display(description="Rack elevations")
    def elevations(self, obj: Facility) -> str:
        if not obj.pk:
            return "-"
        cells = format_html_join("", '<div style="display:inline-block;vertical-align:top;margin:0 12px 12px 0">'
                                     '<a href="{}">{}</a><br>{}</div>',
                                 ((reverse("admin:facilities_rack_change", args=[rack.pk]), rack.name, mark_safe(svg))  # noqa: S308 - SVG built from escaped values
                                  for rack, svg in facility_elevations(obj)))
        return format_html('<div>{}</div><div style="overflow-x:auto;white-space:nowrap">{}</div>', mark_safe(legend_html()), cells)  # noqa: S308

    def save_model(self, request: HttpRequest, obj: Facility, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            _audit_change(request, obj, form, "facilities.facility.update")
        else:
            obj.pk = services.facility_create(code=obj.code, metro=obj.metro, name=obj.name, address=obj.address, features=obj.features,
                                              actor=request.user).pk


class RackForm(forms.ModelForm):
    class Meta:
        model = Rack
        fields = ("facility", "name", "height_u", "power_budget_watts")

    def clean_height_u(self) -> int:
        height = self.cleaned_data["height_u"]
        if self.instance.pk:
            highest = RackUnit.objects.filter(rack=self.instance).order_by("-u").values_list("u", flat=True).first()
            if highest and height < highest:
                raise forms.ValidationError(f"Equipment is mounted up to U{highest}; move it before making the rack {height}U high.")
        return height


@admin.register(Rack)
class RackAdmin(admin.ModelAdmin):
    form = RackForm
    list_display = ("__str__", "facility", "height_u", "units_used", "power_budget_watts")
    list_filter = ("facility__metro", "facility")
    search_fields = ("name", "facility__code")
    readonly_fields = ("elevation",)
    list_select_related = ("facility",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rack]:
        return super().get_queryset(request).annotate(n_units=Count("units"))

    def get_readonly_fields(self, request: HttpRequest, obj: Rack | None = None) -> tuple[str, ...]:
        # Moving a rack to another facility would strand what is mounted in it.
        return ("facility", "elevation") if obj else ("elevation",)

    @admin.display(description="U used", ordering="n_units")
    def units_used(self, obj: Rack) -> int:
        return obj.n_units

    @admin.display(description="Elevation")
    def elevation(self, obj: Rack) -> str:
        if not obj.pk:
            return "-"
        return format_html("<div>{}</div>{}", mark_safe(legend_html()), mark_safe(rack_elevation_svg(obj)))  # noqa: S308

    def save_model(self, request: HttpRequest, obj: Rack, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.rack_update(rack=obj, name=obj.name, height_u=obj.height_u, power_budget_watts=obj.power_budget_watts, actor=request.user)
        else:
            obj.pk = services.rack_create(facility=obj.facility, name=obj.name, height_u=obj.height_u,
                                          power_budget_watts=obj.power_budget_watts, actor=request.user).pk
