"""`manage.py docs_tables`: print the tables docs/architecture.md carries, generated from the code —
the action registry and every state machine's transition table (a test keeps the page equal to this)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand

from apps.hardware.models import Server
from apps.installs import actions
from apps.installs.models import Device, Install
from apps.installs.services.workflow import WORKFLOWS


def transition_table(table: Mapping[str, frozenset[str]]) -> str:
    lines = ["| from | may go to |", "|---|---|"]
    lines += [f"| `{state}` | {', '.join(f'`{t}`' for t in sorted(targets)) or '— (final)'} |" for state, targets in table.items()]
    return "\n".join(lines)


def workflow_table() -> str:
    lines = ["| run kind | steps, in order (waits for the machine in *italics*) |", "|---|---|"]
    for kind, steps in WORKFLOWS.items():
        lines.append(f"| `{kind}` | {' → '.join(f'*{s}*' if s.startswith('wait_') else s for s in steps)} |")
    return "\n".join(lines)


def tables() -> dict[str, str]:
    """Section name → Markdown table."""
    return {
        "actions": actions.markdown_table(),
        "server states": transition_table(Server.TRANSITIONS),
        "device states": transition_table(Device.TRANSITIONS),
        "install states": transition_table(Install.TRANSITIONS),
        "install steps": workflow_table(),
    }


class Command(BaseCommand):
    help = "Print the action registry and the state machines as Markdown tables (as in docs/architecture.md)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, table in tables().items():
            self.stdout.write(f"<!-- generated: {name} -->\n{table}\n")
