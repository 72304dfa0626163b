"""`manage.py docs_tables`: print the tables docs/architecture.md carries, generated from the code —
the action registry and every state machine's transition table (a test keeps the page equal to this)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from apps.hardware.models import Server
from apps.installs import actions
from apps.installs.models import Device, Install
from apps.installs.services.runs import WORKFLOWS


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


GENERATED = re.compile(r"(<!-- generated: ([^>]+) -->\n)(.*?)(\n<!-- end generated -->)", re.S)


def rewrite(text: str) -> str:
    """`text` with each generated section replaced by today's table."""
    current = tables()
    return GENERATED.sub(lambda m: m.group(1) + current[m.group(2)] + m.group(4), text)


class Command(BaseCommand):
    help = "Print the action registry and the state machines as Markdown tables (as in docs/architecture.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--write", type=Path, default=None, help="Rewrite the generated sections of this Markdown file in place.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["write"] is not None:
            path: Path = options["write"]
            path.write_text(rewrite(path.read_text()))
            self.stdout.write(f"{path}: generated sections rewritten")
            return
        for name, table in tables().items():
            self.stdout.write(f"<!-- generated: {name} -->\n{table}\n<!-- end generated -->\n")
