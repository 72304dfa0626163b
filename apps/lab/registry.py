"""The lab's emulator groups. Each group is a (start, stop) pair: `start(out)` brings its
emulators up for the demo hardware in the database and returns a handle; `stop(handle)`
brings them down. Emulator modules add themselves with `register()`."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Group:
    name: str
    start: Callable[[Any], Any]
    stop: Callable[[Any], None]


_groups: dict[str, Group] = {}
# Modules that define groups; imported lazily so that `manage.py lab` pulls them in.
GROUP_MODULES: list[str] = []


def register(name: str, start: Callable[[Any], Any], stop: Callable[[Any], None]) -> None:
    _groups[name] = Group(name, start, stop)


def start_all(*, out: Any) -> list[tuple[Group, Any]]:
    for module in GROUP_MODULES:
        importlib.import_module(module)
    running: list[tuple[Group, Any]] = []
    for group in _groups.values():
        running.append((group, group.start(out)))
        out.write(f"lab: {group.name} up")
    return running


def stop_all(running: list[tuple[Group, Any]], *, out: Any) -> None:
    for group, handle in reversed(running):
        group.stop(handle)
        out.write(f"lab: {group.name} stopped")
