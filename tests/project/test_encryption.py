"""Encrypted fields: unreadable in the database, round-trip in Python, rotatable keys."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection, models

from project import encryption
from project.encryption import DecryptionError, EncryptedTextField


class Vault(models.Model):
    name = models.CharField(max_length=20)
    secret = EncryptedTextField(blank=True, null=True)

    class Meta:
        app_label = "lab"
        db_table = "test_encryption_vault"

    def __str__(self) -> str:
        return self.name


@pytest.fixture
def vault_table(transactional_db):
    with connection.schema_editor() as editor:
        editor.create_model(Vault)
    yield Vault
    with connection.schema_editor() as editor:
        editor.delete_model(Vault)


def _raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM test_encryption_vault WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_value_is_unreadable_in_the_database_and_round_trips(vault_table):
    row = Vault.objects.create(name="bmc", secret="hunter2-ipmi-password")
    raw = _raw_secret(row.pk)
    assert "hunter2" not in raw
    assert raw.startswith("fernet:")
    assert Vault.objects.get(pk=row.pk).secret == "hunter2-ipmi-password"
    # Each save encrypts afresh (random IV): equal secrets do not give equal ciphertexts.
    other = Vault.objects.create(name="bmc2", secret="hunter2-ipmi-password")
    assert _raw_secret(other.pk) != raw


def test_empty_and_null_stay_as_they_are(vault_table):
    row = Vault.objects.create(name="none", secret=None)
    assert Vault.objects.get(pk=row.pk).secret is None
    row = Vault.objects.create(name="empty", secret="")
    assert Vault.objects.get(pk=row.pk).secret == ""


def test_lookups_on_ciphertext_are_refused(vault_table):
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError):
        list(Vault.objects.filter(secret="x"))
    assert Vault.objects.filter(secret__isnull=True).count() == 0


def test_key_rotation_and_wrong_key(vault_table, settings):
    row = Vault.objects.create(name="rot", secret="old-key-secret")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    assert Vault.objects.get(pk=row.pk).secret == "old-key-secret"  # old key still decrypts
    row.save()  # re-encrypt under the new key
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Vault.objects.get(pk=row.pk).secret == "old-key-secret"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="METALYARD_ENCRYPTION_KEYS"):
        Vault.objects.get(pk=row.pk)


def test_encrypt_decrypt_helpers():
    token = encryption.encrypt("s3cret")
    assert token != "s3cret" and encryption.decrypt(token) == "s3cret"
    with pytest.raises(DecryptionError):
        encryption.decrypt("plaintext")
