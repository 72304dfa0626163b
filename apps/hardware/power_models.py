"""Power events: every power action, boot-device change and power-state read that the platform
sends to a BMC, with its outcome and how long it took (staff see them in the admin)."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class PowerAction(models.TextChoices):
    ON = "on", "Power on"
    OFF = "off", "Power off (hard)"
    SOFT_OFF = "soft_off", "Soft off (ACPI)"
    CYCLE = "cycle", "Power cycle"
    RESET = "reset", "Reset"
    BOOT_NETWORK = "boot_network", "Next boot: network (PXE, once)"
    BOOT_DISK = "boot_disk", "Boot from disk (persistent)"
    READ = "read", "Read power state"
    SYNC = "sync", "Power-state sync"


class PowerOutcome(models.TextChoices):
    OK = "ok", "OK"
    DRIFT = "drift", "OK, but the BMC disagreed with the platform"
    RETRYABLE = "retryable", "Failed, will retry"
    GAVE_UP = "gave_up", "Failed, gave up after retries"
    FATAL = "fatal", "Failed, not retried"


class PowerEvent(models.Model):
    server = models.ForeignKey("hardware.Server", on_delete=models.CASCADE, related_name="power_events")
    action = models.CharField(max_length=16, choices=PowerAction.choices)
    outcome = models.CharField(max_length=12, choices=PowerOutcome.choices, db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    duration_ms = models.PositiveIntegerField(help_text="Wall time of the BMC call, including its deadline when it timed out.")
    protocol = models.CharField(max_length=10)
    error_code = models.CharField(max_length=32, blank=True)
    # Error text and drift descriptions only; credentials never reach this field (drivers never put them in errors).
    message = models.TextField(blank=True)
    power_state = models.CharField(max_length=10, blank=True, help_text="What the BMC reported, for reads and syncs.")
    source = models.CharField(max_length=20, blank=True, help_text="admin, api, task, sync, install …")
    worker = models.CharField(max_length=200, blank=True, help_text="cluster@host:pid of the worker that called the BMC.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["server", "-created_at"], name="powerevent_server_recent")]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} ({self.duration_ms} ms)"
