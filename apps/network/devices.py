"""The customer's devices, as the network app sees them. Devices belong to the installs app, which builds on
this one: it registers how to find a caller's live device (InstallsConfig.ready), so that network never
imports it and the lookup still starts from the caller's projects."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceRef:
    id: uuid.UUID
    project: Any  # accounts.Project
    server: Any  # hardware.Server, or None while none is picked
    hostname: str
    state: str


_lookup: Callable[[Any, Any, Any], DeviceRef | None] | None = None


def customer_device_lookup_register(lookup: Callable[[Any, Any, Any], DeviceRef | None]) -> None:
    global _lookup
    _lookup = lookup


def customer_device(user: Any, token: Any, device_id: Any) -> DeviceRef | None:
    """The live device `device_id` if the caller may see it, else None (another tenant's, deleted, unknown)."""
    if _lookup is None:
        raise RuntimeError("no device lookup registered: apps.installs must be installed")
    try:
        pk = uuid.UUID(str(device_id))
    except ValueError:
        return None
    return _lookup(user, token, pk)
