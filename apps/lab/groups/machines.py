"""Lab group "machines": makes the netboot assets (installer kernel and initramfs) the platform serves,
and stops every emulated machine on the way down. Machines themselves start when their emulated
BMC powers them on (apps.lab.machines.on_power_on)."""
from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.lab import machines


def start(out: Any) -> dict[str, Any]:
    from apps.installs.installer.kernel import NetbootToolError

    try:
        from apps.installs.installer.initramfs import build_assets

        assets = build_assets(settings.NETBOOT_ASSETS_DIR)
        out.write(f"lab: netboot assets ready in {settings.NETBOOT_ASSETS_DIR} ({', '.join(p.name for p in assets.values())})")
    except NetbootToolError as exc:
        # Light machines need no kernel; only QEMU machines do.
        out.write(f"lab: no netboot assets for QEMU machines ({exc}); emulated machines still work")
    machines.emulate(True)
    return {}


def stop(handle: dict[str, Any]) -> None:
    machines.emulate(False)
    machines.stop_all()
