"""Turning user input into networks and addresses, with errors that say what to type instead."""
from __future__ import annotations

import ipaddress
from typing import Any

from django.core.exceptions import ValidationError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_PREFIX = {4: 32, 6: 128}


def parse_network(value: Any, *, field: str = "network") -> IPNetwork:
    """A CIDR with no host bits set (147.75.0.0/16). A bare address means a single-address block."""
    text = str(value).strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError({field: f"'{text}' is not an IPv4 or IPv6 network; write it as CIDR, e.g. 147.75.0.0/16 or 2604:1380::/32."}) from exc
        raise ValidationError({field: f"'{text}' has host bits set; did you mean {loose}?"}) from exc


def parse_address(value: Any, *, field: str = "address") -> IPAddress:
    text = str(value).strip()
    if "/" in text:
        network = parse_network(text, field=field)
        if network.num_addresses != 1:
            raise ValidationError({field: f"'{text}' is a network; give one address (e.g. {network.network_address})."})
        return network.network_address
    try:
        return ipaddress.ip_address(text)
    except ValueError as exc:
        raise ValidationError({field: f"'{text}' is not an IPv4 or IPv6 address."}) from exc


def parse_prefix_length(value: Any, *, family: int, field: str = "prefix_length") -> int:
    try:
        length = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError({field: f"'{value}' is not a prefix length; give a number such as 31 or 56."}) from exc
    if not 0 <= length <= MAX_PREFIX[family]:
        raise ValidationError({field: f"/{length} is not an IPv{family} prefix length (0–{MAX_PREFIX[family]})."})
    return length


def prefix_length_for_quantity(quantity: Any, *, family: int) -> int:
    """Equinix-style `quantity` of addresses (a power of two) → the prefix length holding exactly that many."""
    try:
        count = int(quantity)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"quantity": f"'{quantity}' is not a number of addresses."}) from exc
    if count < 1 or count & (count - 1):
        raise ValidationError({"quantity": f"{count} is not a power of two; ask for 1, 2, 4, 8, 16 … addresses."})
    return MAX_PREFIX[family] - (count.bit_length() - 1)
