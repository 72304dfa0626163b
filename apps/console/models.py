"""Serial consoles (SOS over SSH, and the browser): every session with who, from where, when, how long and
what it did, and each device's bounded scrollback of console output."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class ConsoleFace(models.TextChoices):
    SSH = "ssh", "SOS (SSH)"
    BROWSER = "browser", "Browser"


class ConsoleSession(models.Model):
    """One person on one device's serial console (append-only: written at the start, closed at the end)."""

    device = models.ForeignKey("installs.Device", on_delete=models.CASCADE, related_name="console_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    key_fingerprint = models.CharField(max_length=64, blank=True, help_text="SSH: the key it authenticated with (SHA256).")
    key_label = models.CharField(max_length=200, blank=True)
    face = models.CharField(max_length=10, choices=ConsoleFace.choices)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    writer = models.BooleanField(default=False, help_text="It held the keyboard (else it only read).")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    bytes_typed = models.PositiveBigIntegerField(default=0)
    bytes_shown = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["device", "started_at"], name="console_session_device")]

    def __str__(self) -> str:
        return f"{self.face} console of {self.device_id} by {self.user_id or self.key_label}"

    @property
    def duration_seconds(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


class ConsoleScrollback(models.Model):
    """The latest console output of a device, at most SOS_SCROLLBACK_BYTES (older output drops off)."""

    device = models.OneToOneField("installs.Device", on_delete=models.CASCADE, related_name="console_scrollback")
    data = models.BinaryField(default=b"")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"scrollback of {self.device_id}"
