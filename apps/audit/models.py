"""The append-only record of every change and every device command."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models


class ActorType(models.TextChoices):
    USER = "user", "User"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System"


class AuditEvent(models.Model):
    # Actors and targets are kept by id and by name, without foreign keys: the record must
    # outlive the user, token or object it names, and must never be rewritten by a cascade.
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, db_index=True)
    actor_name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-time"], name="audit_target_time")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor_name or self.actor_type} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class StateChange(models.Model):
    """Every move of a state machine that keeps its history (`STATE_HISTORY = True` on the model), written
    by project.states.transition() in the same transaction as the move. It is the time line billing rates
    devices from and utilisation is drawn from: typed, indexed columns instead of the audit log's JSON.
    Like the audit log it is append-only and has no foreign key, so it outlives what it describes."""

    model = models.CharField(max_length=60, help_text="app_label.model_name, e.g. 'installs.device'.")
    object_id = models.UUIDField()
    source = models.CharField(max_length=30)
    target = models.CharField(max_length=30)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["model", "object_id", "at"], name="statechange_object_time"),
                   models.Index(fields=["model", "at"], name="statechange_model_time")]

    def __str__(self) -> str:
        return f"{self.model} {self.object_id} {self.source} → {self.target} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("state changes are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("state changes are append-only")
