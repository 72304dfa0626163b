"""Encryption at rest for device secrets (BMC and switch passwords).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under keys kept outside the
database (settings.FIELD_ENCRYPTION_KEYS); the first key encrypts, every key decrypts, so a
key can be rotated by prepending a new one and re-saving.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "METALYARD_ENCRYPTION_KEYS holds a key that is not a Fernet key (32 url-safe base64 bytes)."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


class DecryptionError(Exception):
    """The stored value cannot be decrypted with any configured key."""


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("value is not an encrypted Metalyard secret")
    try:
        return fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "cannot decrypt a stored secret: none of METALYARD_ENCRYPTION_KEYS matches the key it was written with"
        ) from exc


class EncryptedTextField(models.TextField):
    """A text field whose value is a Fernet token in the database and plaintext in Python."""

    description = "Text encrypted at rest"
    # Read by the audit log (by attribute, so that apps.audit need not import this module): a secret's
    # value is never copied into an audit record.
    secret = True

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value):
        if value is None or not isinstance(value, str) or not value.startswith(PREFIX):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name: str):
        # Fernet tokens are randomised: equality on ciphertext can never match, so refuse
        # lookups rather than silently return nothing.
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None
