"""What "nothing changed in the database" means in the security tests: every row of every model, hashed.

Reads legitimately touch a few bookkeeping columns (a token's last use, a session, a user's last login);
those are left out, everything else — including the append-only audit log — must be byte-for-byte the same.
"""
from __future__ import annotations

import hashlib
import json

from django.apps import apps
from django.db import connection

# Bookkeeping that a refused request may still write (authentication happened), never tenant data.
VOLATILE_FIELDS = {"last_used_at", "last_login"}
VOLATILE_MODELS = {"sessions.session", "django_q.ormq", "django_q.task", "django_q.schedule", "django_q.success", "django_q.failure"}


def db_fingerprint() -> dict[str, str]:
    """One digest per model (label → sha256 of its rows), so a failing comparison names the table that changed."""
    digests: dict[str, str] = {}
    tables = set(connection.introspection.table_names())
    for model in apps.get_models():
        label = model._meta.label_lower
        # Models that tests declare for themselves have no table in the test database.
        if label in VOLATILE_MODELS or not model._meta.managed or model._meta.db_table not in tables:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        rows = model._base_manager.order_by("pk").values_list(*fields)
        digest = hashlib.sha256()
        for row in rows.iterator():
            digest.update(json.dumps(row, default=str).encode())
        digests[label] = digest.hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(label for label in before.keys() | after.keys() if before.get(label) != after.get(label))
