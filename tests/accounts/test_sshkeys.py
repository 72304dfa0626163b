"""SSH keys are parsed and fingerprinted; garbage is refused with a message."""
from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.core.exceptions import ValidationError

from apps.accounts import services
from apps.accounts.models import SSHKey


def openssh_public(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.django_db
def test_valid_ed25519_key_gets_both_fingerprints(user):
    line = openssh_public(ed25519.Ed25519PrivateKey.generate()) + " me@laptop"
    key = services.ssh_key_create(label="laptop", key=f"  {line}\n", owner=user)
    blob = base64.b64decode(line.split()[1])
    expected_sha = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    md5 = hashlib.md5(blob).hexdigest()
    assert key.fingerprint_sha256 == expected_sha
    assert key.fingerprint == ":".join(md5[i:i + 2] for i in range(0, 32, 2))
    assert key.key == f"  {line}\n"  # stored exactly as sent; validated and fingerprinted on a normalised copy


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("hello world", "Not a valid OpenSSH public key"),
        ("ssh-ed25519", "expected '<type> <base64> [comment]'"),
        ("ssh-ed25519 AAAA!!!notbase64", "Not a valid OpenSSH public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY----- abc", "private key"),
    ],
)
@pytest.mark.django_db
def test_garbage_is_refused_with_a_message(user, text, message):
    with pytest.raises(ValidationError) as excinfo:
        services.ssh_key_create(label="bad", key=text, owner=user)
    assert message in " ".join(excinfo.value.message_dict["key"])
    assert SSHKey.objects.count() == 0


@pytest.mark.django_db
def test_short_rsa_key_is_refused(user):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point of the test
    with pytest.raises(ValidationError, match="at least 2048"):
        services.ssh_key_create(label="old", key=openssh_public(weak), owner=user)


@pytest.mark.django_db
def test_key_belongs_to_exactly_one_owner(user):
    from tests.factories import ProjectFactory

    line = openssh_public(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValidationError):
        services.ssh_key_create(label="x", key=line, owner=user, project=ProjectFactory())
    with pytest.raises(ValidationError):
        services.ssh_key_create(label="x", key=line)


@pytest.mark.django_db
def test_duplicate_key_for_same_owner_is_refused(user):
    line = openssh_public(ed25519.Ed25519PrivateKey.generate())
    services.ssh_key_create(label="a", key=line, owner=user)
    with pytest.raises(ValidationError, match="already registered"):
        services.ssh_key_create(label="b", key=line, owner=user)
