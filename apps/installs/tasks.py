"""django-q2 entry points of the install workflow: take ids, call a service."""
from __future__ import annotations

from apps.installs import services


def install_advance(install_id: str) -> str:
    install = services.install_advance(install_id=install_id)
    return f"{install.kind} {install.pk}: {install.state} at {install.step}"


def installs_watchdog() -> dict[str, int]:
    return services.installs_watchdog()
