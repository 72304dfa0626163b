"""The one mechanism every state machine uses: a read-only transition table and one locked,
audited transition.

A model declares `STATE_FIELD` (default "state") and `TRANSITIONS`, a mapping from each
state to the frozenset of states it may move to, and calls `transition()` — never assigns
the state field directly. A model with `STATE_HISTORY = True` also gets one typed row per move
(apps.audit.models.StateChange), the time line billing and utilisation are computed from.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils import timezone

M = TypeVar("M", bound=models.Model)


class StateConflict(Exception):
    """The object's state does not allow what was asked now (the API answers 409, the portal and the
    admin show the message). Every state refusal is one of these."""

    api_status = 409


class IllegalTransition(StateConflict):
    """A move the transition table does not allow."""

    def __init__(self, obj: models.Model, source: str, target: str, allowed: frozenset[str]) -> None:
        self.obj, self.source, self.target, self.allowed = obj, source, target, allowed
        allowed_text = ", ".join(sorted(allowed)) or "nothing"
        super().__init__(f"{obj._meta.verbose_name} {obj} cannot go from '{source}' to '{target}' (from '{source}' it may go to: {allowed_text}).")


def freeze(table: Mapping[str, set[str] | frozenset[str]]) -> Mapping[str, frozenset[str]]:
    return MappingProxyType({state: frozenset(targets) for state, targets in table.items()})


def transition(obj: M, target: str, *, actor: Any = None, reason: str = "", state_field: str = "state",
               extra: Mapping[str, Any] | None = None) -> M:
    """Move `obj` to `target` under a row lock; record who/when/why; return the fresh row.

    `extra` are other fields to write in the same UPDATE (e.g. a failure reason)."""
    from apps.audit.models import StateChange
    from apps.audit.services import audit_record

    table: Mapping[str, frozenset[str]] = type(obj).TRANSITIONS  # type: ignore[attr-defined]
    with transaction.atomic():
        locked = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        source = getattr(locked, state_field)
        allowed = table.get(source, frozenset())
        if target not in allowed:
            raise IllegalTransition(locked, source, target, allowed)
        setattr(locked, state_field, target)
        update_fields = [state_field]
        now = timezone.now()
        for name in ("state_changed_at",):
            if hasattr(locked, name):
                setattr(locked, name, now)
                update_fields.append(name)
        for name, value in (extra or {}).items():
            setattr(locked, name, value)
            update_fields.append(name)
        locked.save(update_fields=update_fields)
        if getattr(type(obj), "STATE_HISTORY", False):
            StateChange.objects.create(model=locked._meta.label_lower, object_id=locked.pk, source=source, target=target, at=now)
        changes = {state_field: [source, target], **{k: [None, v] for k, v in (extra or {}).items()}}
        audit_record(action=f"{locked._meta.app_label}.{locked._meta.model_name}.transition", target=locked,
                     changes=changes, reason=reason, actor=actor)
    # Keep the caller's object in step with the row.
    for name in update_fields:
        setattr(obj, name, getattr(locked, name))
    return locked
