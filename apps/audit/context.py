"""Who is acting right now, and for which request: set by the middleware (web, API) or by
`acting_as()` (tasks, commands), read by `audit_record()` when the caller names no actor."""
from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AuditContext:
    actor: Any = None  # a User, an APIToken, or None for the system
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source_ip: str | None = None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


@contextmanager
def acting_as(actor: Any = None, *, request_id: str | None = None, source_ip: str | None = None) -> Iterator[AuditContext]:
    ctx = AuditContext(actor=actor, request_id=request_id or uuid.uuid4().hex, source_ip=source_ip)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
