"""Staff screens of the consoles: every session (who, key, from where, when, how long, bytes) and each
device's scrollback. Read-only: the listener writes them."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.console.models import ConsoleScrollback, ConsoleSession


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


@admin.register(ConsoleSession)
class ConsoleSessionAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "device", "user", "key_label", "face", "writer", "source_address", "ended_at", "end_reason",
                    "bytes_typed", "bytes_shown")
    list_filter = ("face", "writer", ("started_at", admin.DateFieldListFilter))
    search_fields = ("device__hostname", "device__id", "user__email", "user__username", "key_fingerprint", "source_address")
    list_select_related = ("device", "user")
    date_hierarchy = "started_at"


@admin.register(ConsoleScrollback)
class ConsoleScrollbackAdmin(ReadOnlyAdmin):
    list_display = ("device", "updated_at", "size")
    search_fields = ("device__hostname", "device__id")
    list_select_related = ("device",)
    readonly_fields = ("device", "updated_at", "text")
    exclude = ("data",)

    @admin.display(description="bytes")
    def size(self, obj: ConsoleScrollback) -> int:
        return len(bytes(obj.data))

    @admin.display(description="output")
    def text(self, obj: ConsoleScrollback) -> str:
        return bytes(obj.data).decode("utf-8", "replace")
