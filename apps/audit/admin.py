"""Staff read the audit log here; nobody can add, change or delete an event. AuditedAdmin is the
base of every other staff screen that writes."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.audit.services import record_create, record_delete, record_update


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("time", "actor_type", "actor_name", "action", "target_type", "target_repr", "source_ip", "request_id")
    list_filter = ("actor_type", "target_type", ("time", admin.DateFieldListFilter), "action")
    search_fields = ("actor_name", "actor_id", "action", "target_repr", "target_id", "request_id", "reason")
    date_hierarchy = "time"
    list_select_related = ("target_type",)
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


class AuditedAdmin(admin.ModelAdmin):
    """The base of every staff screen that writes: a save or a delete — bulk "Delete selected"
    included — goes through a service that snapshots the locked row and records the change. A
    screen whose model has services of its own overrides save_model/delete_model to call them;
    bulk deletes always go one object at a time through delete_model. Without an override, the
    reference-row services (apps.audit.services.record_*) do it."""

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        if change:
            record_update(instance=obj, actor=request.user)
        else:
            record_create(instance=obj, actor=request.user)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        record_delete(instance=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            try:
                self.delete_model(request, obj)
            except ValidationError as exc:
                self.message_user(request, f"{obj}: {' '.join(exc.messages)}", messages.ERROR)
