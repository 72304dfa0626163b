"""The lab's emulator groups. Each module in `apps.lab.groups` defines one group with
`start(out) -> handle` and `stop(handle)`: start brings its emulators up on loopback for the
demo hardware in the database (recording the ports it bound there), stop brings them down."""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from apps.lab import groups as groups_package


@dataclass(frozen=True)
class Group:
    name: str
    module: ModuleType


def discover() -> list[Group]:
    found = []
    for info in sorted(pkgutil.iter_modules(groups_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{groups_package.__name__}.{info.name}")
        if hasattr(module, "start") and hasattr(module, "stop"):
            found.append(Group(info.name, module))
    return found


def start_all(*, out: Any, stop_requested: Callable[[], bool] = lambda: False) -> list[tuple[Group, Any]]:
    """Start every group; if a stop is requested meanwhile, start no further group."""
    running: list[tuple[Group, Any]] = []
    try:
        for group in discover():
            if stop_requested():
                out.write(f"lab: stop requested; not starting {group.name}")
                break
            running.append((group, group.module.start(out)))
            out.write(f"lab: {group.name} up")
    except BaseException:
        stop_all(running, out=out)
        raise
    return running


def stop_all(running: list[tuple[Group, Any]], *, out: Any) -> None:
    for group, handle in reversed(running):
        try:
            group.module.stop(handle)
            out.write(f"lab: {group.name} stopped")
        except Exception as exc:
            out.write(f"lab: {group.name} failed to stop cleanly: {exc}")
