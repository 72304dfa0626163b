"""Holds: a row of a higher app that keeps a row of a lower app in use — a device holds its server
and its project, an address assignment holds its server. The lower app must refuse to retire a held
row (a server back to the pool, a project deleted), but it may not import the apps above it. So each
higher app registers its checks here at startup (its AppConfig.ready) and the lower app asks
`holds_of()`: the dependency stays one-way and every hold is listed in the apps' ready() methods."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

HoldCheck = Callable[[Any], list[str]]
_CHECKS: dict[str, list[tuple[str, HoldCheck]]] = {}


def holds_register(subject: str, kind: str, check: HoldCheck) -> None:
    """Register `check(obj) -> [what holds obj, in words]` for rows of `subject` ("server", "project")."""
    checks = _CHECKS.setdefault(subject, [])
    if all(existing is not check for _, existing in checks):
        checks.append((kind, check))


def holds_of(subject: str, obj: Any, *, kinds: frozenset[str] | None = None) -> list[str]:
    """What holds `obj` now (empty: nothing), optionally only holds of the given kinds."""
    return [what for kind, check in _CHECKS.get(subject, []) if kinds is None or kind in kinds for what in check(obj)]
