"""docs/api.md carries the action registry's table, generated like docs/architecture.md's."""
from __future__ import annotations

import re
from pathlib import Path

from apps.installs.management.commands.docs_tables import tables

API_PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_api_page_s_actions_table_is_the_registry_s():
    on_page = dict(re.findall(r"<!-- generated: ([^>]+) -->\n(.*?)\n<!-- end generated -->", API_PAGE.read_text(), re.S))
    assert on_page["actions"].strip() == tables()["actions"].strip(), "run manage.py docs_tables --write docs/api.md"
