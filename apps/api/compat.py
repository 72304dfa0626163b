"""Which Equinix Metal API v1 operations Metalyard serves, read from the code: every operation of the
specification (spec_operations.tsv) is resolved against the /metal/v1/ URL tree, and counts as
implemented when a route matches and its view answers that method. docs/api.md's table is this."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from django.urls import Resolver404, resolve

SPEC_OPERATIONS = Path(__file__).with_name("spec_operations.tsv")
SAMPLE_ID = "6f9c1a52-3b1e-4c7d-9a0b-2d4e6f8a0c1e"
# Areas that have an issue of their own; shown, counted apart, not yet served.
OTHER_ISSUES = {"VLANs": "VLANs", "Ports": "ports (Layer 2)", "BGP": "BGP sessions", "Usages": "usage", "Invoices": "invoices",
                "HardwareReservations": "hardware reservations", "SpotMarket": "spot market", "Batches": "batches",
                "ConsoleLogDetails": "serial console"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    clients: str
    implemented: bool


def _serves(method: str, path: str) -> bool:
    concrete = re.sub(r"\{[^}]+\}", SAMPLE_ID, path)
    try:
        match = resolve(f"/metal/v1{concrete}")
    except Resolver404:
        return False
    view = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    return view is not None and callable(getattr(view, method.lower(), None))


def operations() -> list[Operation]:
    with SPEC_OPERATIONS.open() as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return [Operation(row["method"], row["path"], row["operation_id"], row["tag"], row["clients"], _serves(row["method"], row["path"]))
            for row in csv.DictReader(lines, delimiter="\t")]


def markdown() -> str:
    ops = sorted(operations(), key=lambda o: (o.tag, o.path, o.method))
    served = [o for o in ops if o.implemented]
    used = [o for o in ops if o.clients]
    lines = [
        f"{len(served)} of {len(ops)} operations of the specification are served; of the {len(used)} that packet-python (P), "
        f"Terraform (T) or metal-cli (C) call, {sum(o.implemented for o in used)}.",
        "",
        "| tag | method | path | clients | served |",
        "|---|---|---|---|---|",
    ]
    for o in ops:
        if o.implemented:
            status = "yes"
        elif o.tag in OTHER_ISSUES or "/bgp" in o.path:
            status = f"not yet ({OTHER_ISSUES.get(o.tag, 'BGP sessions') if '/bgp' not in o.path else 'BGP sessions'}: own issue)"
        else:
            status = "not yet"
        lines.append(f"| {o.tag} | {o.method} | `{o.path}` | {o.clients or '—'} | {status} |")
    return "\n".join(lines) + "\n"
