"""Prepared statements for the hottest reads (the API token lookup, the customer API's lean device reads).

Django's PostgreSQL cursors bind parameters on the client and prepare nothing: PostgreSQL parses and plans
every statement on every call. For the lean reads' statements (the visibility subquery and four joins) the
planning cost more than the execution: measured on the bench database (bench/api.py, 10,000 devices), the
server's CPU for a device-list page's four statements was 5.8 ms planned each time and 3.2 ms prepared, for
a device read's 1.75 ms and 0.25 ms.

`prepared_cursor()` is a cursor with server-side binding whose statements psycopg prepares on first use and
keeps for the connection's life (its own cache, at most `prepared_max` = 100 per connection, least recently
used deallocated first): each is planned once per connection (PostgreSQL re-plans by itself when a table it
reads changes). It goes through Django's cursor wrapper, so the statements are logged and counted as any
other (CaptureQueriesContext, DEBUG's connection.queries).

Prepared statements need the connection's `prepare_threshold`, which Django sets to None (off) unless the
database OPTIONS give one: settings.py gives 0 on PostgreSQL (Django's own cursors never prepare whatever it
is: they bind on the client). `METALYARD_DB_PREPARED=0` leaves it off, for a connection pooler that does not
keep prepared statements per client (PgBouncer in transaction mode before 1.21): the same statements then
run unprepared, the answers are the same.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


def _server_binding_cursor() -> Any:
    from psycopg import Cursor

    class PreparingCursor(Cursor):
        """Server-side binding; every statement prepared on its first execution (when the connection prepares)."""

        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None) -> Any:
            return super().execute(query, params, prepare=True, binary=binary)

        def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
            # As psycopg does for a statement it does not prepare: Django's query log reads the text from `_query`.
            self._query = pgq
            super()._send_query_prepared(name, pgq, binary=binary)

    return PreparingCursor


_CURSOR_CLASS: list[Any] = []


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A cursor on Django's connection whose statements are prepared (PostgreSQL with psycopg 3); elsewhere
    Django's own cursor. Parameters are bound by the server: write `%s` placeholders only where PostgreSQL
    takes a parameter (values, not identifiers), and cast them where the type is not clear from the context."""
    if connection.vendor != "postgresql" or not hasattr(connection, "connection") or not _psycopg3():
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    if not _CURSOR_CLASS:
        _CURSOR_CLASS.append(_server_binding_cursor())
    raw = _CURSOR_CLASS[0](connection.connection)
    # Django's wrapper: its error translation, its query log (connection.queries, CaptureQueriesContext).
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    with wrapped as cursor:
        yield cursor


def _psycopg3() -> bool:
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3
