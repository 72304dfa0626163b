"""Public UUID ids for rows whose primary key is an integer (users, metros, facilities, plans,
operating systems, IP blocks, events).

Equinix Metal clients insist on UUIDs (packngo validates them before sending, the generated models
type them as strings). Rather than a second key column on other apps' tables, the public id encodes
the row's kind and integer key reversibly: `<kind tag>-0000-4000-8000-<key as 12 hex digits>`.
It is a well-formed version-4 UUID, stable for the row's life, and a lookup by it is a primary-key
lookup. Ids of one kind never parse as another kind's."""
from __future__ import annotations

import uuid

# Eight hex digits per kind; fixed forever once published (they are in clients' state files).
KIND_TAGS: dict[str, str] = {
    "user": "75736572",
    "metro": "6d657472",
    "facility": "66616331",
    "plan": "706c616e",
    "operating_system": "6f730000",
    "ip": "69700000",
    "event": "65766e74",
    "install_event": "69657674",
    "membership": "6d656d62",
    "port": "706f7274",
    "bond_port": "626f6e64",
    "invitation": "696e7669",
}
_MAX_KEY = 16 ** 12 - 1


def public_id(kind: str, key: int) -> str:
    if not 0 <= int(key) <= _MAX_KEY:
        raise ValueError(f"{kind} key {key} does not fit a public id")
    return f"{KIND_TAGS[kind]}-0000-4000-8000-{int(key):012x}"


def key_of(kind: str, value: object) -> int | None:
    """The integer key a public id of `kind` stands for, or None for anything else (including
    another kind's id and bare integers, so old integer URLs do not resolve by accident)."""
    try:
        parsed = uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
    text = str(parsed)
    if not text.startswith(f"{KIND_TAGS[kind]}-0000-4000-8000-"):
        return None
    return int(text[-12:], 16)

