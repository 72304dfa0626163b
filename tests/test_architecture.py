"""docs/architecture.md carries tables generated from the code (the action registry, the state
machines); they must be what `manage.py docs_tables` prints today."""
from __future__ import annotations

import re
from pathlib import Path

from apps.installs.management.commands.docs_tables import tables

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"


def test_generated_tables_in_the_architecture_page_match_the_code():
    text = PAGE.read_text()
    on_page = dict(re.findall(r"<!-- generated: ([^>]+) -->\n(.*?)\n<!-- end generated -->", text, re.S))
    generated = tables()
    assert set(on_page) == set(generated)
    for name, table in generated.items():
        assert on_page[name].strip() == table.strip(), f"docs/architecture.md '{name}' is stale: run manage.py docs_tables --write docs/architecture.md"
