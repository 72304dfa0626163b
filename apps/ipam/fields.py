"""Column types for IP space that work on PostgreSQL (native, indexed) and on SQLite (portable).

`CidrField` is PostgreSQL `cidr` (GiST `inet_ops` indexes and exclusion constraints use it) and a
plain string elsewhere. `AddressIntegerField` holds an address as an integer so that gap searches
and range tests are ordinary indexed comparisons: `numeric(39,0)` on PostgreSQL (arithmetic in
SQL), a fixed-width 32-digit hex string on SQLite, whose byte order is the numeric order.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Lookup


def _is_postgres(connection: Any) -> bool:
    return connection.vendor == "postgresql"


class CidrField(models.CharField):
    description = "An IP network in CIDR notation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 43)
        super().__init__(*args, **kwargs)

    def db_type(self, connection: Any) -> str:
        return "cidr" if _is_postgres(connection) else super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        return None if value is None else str(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        return None if value is None else str(value)


class AddressIntegerField(models.Field):
    description = "An IP address as an unsigned 128-bit integer"

    def db_type(self, connection: Any) -> str:
        return "numeric(39,0)" if _is_postgres(connection) else "char(32)"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, str):
            return int(value, 16)
        return int(value)

    def to_python(self, value: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, str):
            return int(value, 16) if len(value) == 32 else int(value)
        return int(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        value = int(value)
        if _is_postgres(connection):
            return Decimal(value)
        return f"{value:032x}"


@CidrField.register_lookup
class NetContainsOrEquals(Lookup):
    """`network__net_contains_or_equals="147.75.3.17"`: PostgreSQL `>>=`, answered by the GiST index."""

    lookup_name = "net_contains_or_equals"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not _is_postgres(connection):
            raise NotImplementedError("net_contains_or_equals needs PostgreSQL; use the first/last range on SQLite.")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} >>= {rhs}::inet", [*lhs_params, *rhs_params]
