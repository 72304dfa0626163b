"""The one way every write in the project records itself: `audit_record()` (or, for a write that
inserts its event in its own SQL statement, the same columns from `audit_who()`)."""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError

from apps.audit import context
from apps.audit.models import ActorType, AuditEvent

SECRET_FIELD_MARK = "<secret changed>"  # noqa: S105 - a placeholder, not a secret


def _actor_fields(actor: Any) -> tuple[str, str, str]:
    if actor is None:
        return ActorType.SYSTEM, "", "system"
    # An APIToken has a `user` and a `key_preview`; a User has `get_username`.
    if hasattr(actor, "key_preview") and hasattr(actor, "user_id"):
        return ActorType.TOKEN, str(actor.pk), f"token {actor.key_preview}… of {actor.user}"
    if hasattr(actor, "get_username"):
        if not actor.is_authenticated:
            return ActorType.SYSTEM, "", "anonymous"
        return ActorType.USER, str(actor.pk), actor.get_username()
    return ActorType.SYSTEM, "", str(actor)[:200]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audit-relevant field values of `instance`; secret fields are never copied."""
    values: dict[str, Any] = {}
    # Customer payloads that may hold their secrets (a device's userdata) are recorded by size and digest only:
    # the log is append-only, so a copy could never be purged.
    digest_only = getattr(type(instance), "AUDIT_DIGEST_FIELDS", ())
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if getattr(field, "auto_now", False):
            continue  # bookkeeping that changes on every save, not a change anyone made
        if getattr(field, "secret", False):  # project.encryption.EncryptedTextField
            values[field.name] = SECRET_FIELD_MARK
            continue
        if field.name in digest_only:
            values[field.name] = payload_digest(getattr(instance, field.attname))
            continue
        values[field.name] = _jsonable(getattr(instance, field.attname))
    return values


def payload_digest(value: str | bytes | None) -> dict[str, Any] | None:
    """What the audit log keeps of a customer payload: its size in bytes and its SHA-256, never the text."""
    if value is None:
        return None
    data = value.encode() if isinstance(value, str) else bytes(value)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for every field whose value differs."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def audit_who(actor: Any = None) -> dict[str, Any]:
    """Who acts, for which request and from where: an event's actor_type, actor_id, actor_name,
    request_id and source_ip, as `audit_record()` fills them. For a write that inserts its audit row
    in the same SQL statement as the change (IPAM's one-statement allocation)."""
    ctx = context.current()
    if actor is None and ctx is not None:
        actor = ctx.actor
    actor_type, actor_id, actor_name = _actor_fields(actor)
    return {"actor_type": actor_type, "actor_id": actor_id, "actor_name": actor_name[:200],
            "request_id": ctx.request_id if ctx else "", "source_ip": ctx.source_ip if ctx else None}


def audit_record(
    *,
    action: str,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    reason: str = "",
    actor: Any = None,
) -> AuditEvent:
    """Append one audit event. With no `actor`, the request's or task's actor is used."""
    event = AuditEvent(action=action, changes=_jsonable(changes or {}), reason=reason, **audit_who(actor))
    if target is not None:
        event.target_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        event.target_id = str(target.pk)
        event.target_repr = str(target)[:200]
    event.save()
    return event


# ---------------------------------------------------------------------------------------------- reference rows
# The write services of rows that have no rules beyond their fields (metros, plans, operating
# systems, NICs, switch records …), used by the admin for every model without a service of its own.


def _label(instance: models.Model) -> str:
    return f"{instance._meta.app_label}.{instance._meta.model_name}"


@transaction.atomic
def record_create(*, instance: models.Model, actor: Any = None) -> models.Model:
    instance.full_clean()
    instance.save()
    audit_record(action=f"{_label(instance)}.create", target=instance, changes=diff({}, snapshot(instance)), actor=actor)
    return instance


@transaction.atomic
def record_update(*, instance: models.Model, actor: Any = None) -> models.Model:
    """Save `instance` with the field values the caller set on it (an admin form does so before it
    saves), auditing the change against the stored row, locked — never against the caller's object."""
    stored = type(instance)._base_manager.select_for_update().get(pk=instance.pk)
    before = snapshot(stored)
    instance.full_clean()
    instance.save()
    changes = diff(before, snapshot(instance))
    if changes:
        audit_record(action=f"{_label(instance)}.update", target=instance, changes=changes, actor=actor)
    return instance


@transaction.atomic
def record_delete(*, instance: models.Model, actor: Any = None) -> None:
    """Delete `instance`, recording what it was (read from the locked row). A row that others still
    refer to (PROTECT) refuses with a readable ValidationError."""
    stored = type(instance)._base_manager.select_for_update().get(pk=instance.pk)
    audit_record(action=f"{_label(instance)}.delete", target=stored, changes=diff(snapshot(stored), {}), actor=actor)
    try:
        with transaction.atomic():
            stored.delete()
    except ProtectedError as exc:
        users = sorted({str(type(obj)._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise ValidationError(f"{instance} is still used by {', '.join(users)}; it cannot be deleted.") from exc
