"""Parsing and fingerprinting of OpenSSH public keys."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class ParsedKey:
    normalized: str
    fingerprint_md5: str
    fingerprint_sha256: str


def parse_public_key(text: str) -> ParsedKey:
    """Validate an OpenSSH public key line; raise ValidationError saying what is wrong."""
    line = " ".join((text or "").strip().split())
    if not line:
        raise ValidationError({"key": "The SSH key is empty. Paste the contents of your id_ed25519.pub (or id_rsa.pub)."})
    if "PRIVATE KEY" in line:
        raise ValidationError({"key": "This is a private key. Paste the public key (the .pub file) and keep the private one secret."})
    parts = line.split(" ")
    if len(parts) < 2:
        raise ValidationError({"key": "Not an OpenSSH public key: expected '<type> <base64> [comment]', e.g. 'ssh-ed25519 AAAA… you@host'."})
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationError({"key": f"Not a valid OpenSSH public key ({exc}). Paste the single line of your .pub file."}) from exc
    if isinstance(key, dsa.DSAPublicKey):
        raise ValidationError({"key": "DSA keys are no longer accepted by OpenSSH. Use ed25519 or RSA (3072 bits or more)."})
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise ValidationError({"key": f"This RSA key has {key.key_size} bits; at least 2048 are required."})
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return ParsedKey(
        normalized=line,
        fingerprint_md5=":".join(md5[i:i + 2] for i in range(0, len(md5), 2)),
        fingerprint_sha256=f"SHA256:{sha}",
    )
