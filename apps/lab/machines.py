"""What the lab's emulated machines do when their BMC powers them on. The BMC emulators call
`on_power_on(server_id, bootdev)`; whoever emulates the machine itself (the installs work: a QEMU
netboot when bootdev is "network") registers a handler here."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

PowerOnHandler = Callable[[str | None, str], None]
_handlers: list[PowerOnHandler] = []
_lock = threading.Lock()


def register_power_on(handler: PowerOnHandler) -> PowerOnHandler:
    """Call handler(server_id, bootdev) on every emulated power-on; usable as a decorator."""
    with _lock:
        if handler not in _handlers:
            _handlers.append(handler)
    return handler


def unregister_power_on(handler: PowerOnHandler) -> None:
    with _lock:
        if handler in _handlers:
            _handlers.remove(handler)


def on_power_on(server_id: str | None, bootdev: str) -> None:
    """bootdev is "network", "disk", "default" (the firmware's own order) or another device name.
    Handlers run on the lab's event thread: start long work in a thread of your own."""
    with _lock:
        handlers = list(_handlers)
    for handler in handlers:
        try:
            handler(server_id, bootdev)
        except Exception:
            log.exception("lab: power-on handler %r failed for server %s", handler, server_id)
