"""The compatibility table in docs/api.md is what the code serves, and every operation the clients call
in the areas this API covers is served."""
from __future__ import annotations

import re
from pathlib import Path

from apps.api.compat import OTHER_ISSUES, markdown, operations

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# Areas with an issue of their own, or outside a self-hosted cloud (e-mail addresses, payment methods).
ELSEWHERE = {*OTHER_ISSUES, "Emails", "PaymentMethods"}


def test_docs_table_is_generated_from_the_code() -> None:
    text = DOC.read_text()
    table = re.search(r"<!-- compatibility:start -->\n(.*)<!-- compatibility:end -->", text, re.S)
    assert table, "docs/api.md lost its compatibility markers"
    assert table.group(1) == markdown(), "docs/api.md is stale: paste `python manage.py api_compatibility` between the markers"


def test_every_operation_the_clients_call_in_scope_is_served() -> None:
    missing = [f"{o.method} {o.path} ({o.clients})" for o in operations()
               if o.clients and not o.implemented and o.tag not in ELSEWHERE and "/bgp/" not in o.path
               and "payment-methods" not in o.path]
    assert missing == []


def test_the_table_knows_every_specification_operation() -> None:
    ops = operations()
    assert len(ops) == 226 and len({(o.method, o.path) for o in ops}) == 226
