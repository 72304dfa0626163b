"""Staff screens for metros, facilities and racks. Their rack elevations are drawn from what the
hardware app mounts in them, so apps.hardware.admin adds them (facilities imports no hardware)."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.audit.admin import AuditedAdmin
from apps.facilities import services
from apps.facilities.models import Facility, Metro, Rack


@admin.register(Metro)
class MetroAdmin(AuditedAdmin):
    list_display = ("code", "name", "country")
    search_fields = ("code", "name")

    def save_model(self, request: HttpRequest, obj: Metro, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.metro_create(code=obj.code, name=obj.name, country=obj.country, actor=request.user).pk


@admin.register(Facility)
class FacilityAdmin(AuditedAdmin):
    list_display = ("code", "name", "metro", "rack_count")
    list_filter = ("metro",)
    search_fields = ("code", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Facility]:
        return super().get_queryset(request).select_related("metro").annotate(n_racks=Count("racks"))

    @admin.display(description="racks", ordering="n_racks")
    def rack_count(self, obj: Facility) -> int:
        return obj.n_racks

    def save_model(self, request: HttpRequest, obj: Facility, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.facility_create(code=obj.code, metro=obj.metro, name=obj.name, address=obj.address, features=obj.features,
                                              actor=request.user).pk


class RackForm(forms.ModelForm):
    class Meta:
        model = Rack
        fields = ("facility", "name", "height_u", "power_budget_watts")

    def clean_height_u(self) -> int:
        height = self.cleaned_data["height_u"]
        try:
            services.rack_height_check(rack=self.instance, height_u=height)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["height_u"]) from exc
        return height


@admin.register(Rack)
class RackAdmin(AuditedAdmin):
    form = RackForm
    list_display = ("__str__", "facility", "height_u", "units_used", "power_budget_watts")
    list_filter = ("facility__metro", "facility")
    search_fields = ("name", "facility__code")
    list_select_related = ("facility",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rack]:
        return super().get_queryset(request).annotate(n_units=Count("units"))

    def get_readonly_fields(self, request: HttpRequest, obj: Rack | None = None) -> tuple[str, ...]:
        # Moving a rack to another facility would strand what is mounted in it.
        return ("facility",) if obj else ()

    @admin.display(description="U used", ordering="n_units")
    def units_used(self, obj: Rack) -> int:
        return obj.n_units

    def save_model(self, request: HttpRequest, obj: Rack, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.rack_update(rack=obj, name=obj.name, height_u=obj.height_u, power_budget_watts=obj.power_budget_watts, actor=request.user)
        else:
            obj.pk = services.rack_create(facility=obj.facility, name=obj.name, height_u=obj.height_u,
                                          power_budget_watts=obj.power_budget_watts, actor=request.user).pk
