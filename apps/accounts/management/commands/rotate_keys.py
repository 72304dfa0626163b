"""`manage.py rotate_keys`: re-encrypt every encrypted column under the first of METALYARD_ENCRYPTION_KEYS.

Rotation: put the new key first (`new,old`) and restart, run this, then drop the old key. Each value is
decrypted with whichever configured key wrote it and written back under the first key, in one transaction:
if any value can be read by none of the keys, the command names it and changes nothing, so the old key
is never dropped while something still needs it.
"""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction

from apps.audit.services import audit_record
from project.encryption import DecryptionError, EncryptedTextField

BATCH = 500


def encrypted_columns() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with EncryptedTextField columns (found, not listed: a new secret column is covered at once)."""
    tables = set(connection.introspection.table_names())
    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names and model._meta.managed and model._meta.db_table in tables:
            found.append((model, names))
    return found


def reencrypt(model: type[models.Model], names: list[str]) -> int:
    """Re-encrypt `names` of every row of `model`; the rows are locked while they are rewritten."""
    manager = model._base_manager
    count = 0
    pks = list(manager.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), BATCH):
        chunk = pks[start:start + BATCH]
        try:
            rows = list(manager.select_for_update().filter(pk__in=chunk).values_list("pk", *names))
        except DecryptionError:
            for pk in chunk:  # find the row to name it
                try:
                    manager.filter(pk=pk).values_list(*names).get()
                except DecryptionError as exc:
                    raise CommandError(f"{model._meta.label} {pk}: {exc}. Nothing was changed; put the key it was written with "
                                       "back into METALYARD_ENCRYPTION_KEYS (after the new one) and run rotate_keys again.") from exc
            raise
        for pk, *values in rows:
            update = {name: value for name, value in zip(names, values, strict=True) if value not in (None, "")}
            if update:
                manager.filter(pk=pk).update(**update)  # get_prep_value encrypts with the first key
                count += len(update)
    return count


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the first METALYARD_ENCRYPTION_KEYS key, so older keys can be dropped."

    def handle(self, *args: Any, **options: Any) -> None:
        counts: dict[str, int] = {}
        with transaction.atomic():
            for model, names in encrypted_columns():
                counts[f"{model._meta.label}.{'/'.join(names)}"] = reencrypt(model, names)
            audit_record(action="encryption_keys_rotated", changes={"reencrypted": counts},
                         reason="manage.py rotate_keys: every encrypted column now under the first key")
        for column, count in counts.items():
            self.stdout.write(f"{column}: {count} value(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {sum(counts.values())} value(s) under the first key; older keys may now be dropped."))
