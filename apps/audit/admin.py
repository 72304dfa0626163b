"""Staff read the audit log here; nobody can add, change or delete an event."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


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
