"""Lab demo data: the inventory of every lab server (what its discovery image would report), so that
the platform can check a wipe's attestation against the disks it knows."""
from __future__ import annotations

from typing import Any


def seed(*, out: Any, context: dict[str, Any]) -> str:
    from apps.lab.machines import lab_inventory_reports

    return f"{lab_inventory_reports()} lab servers given their inventory"
