"""Model fields of the hardware inventory: MAC addresses stored in one canonical spelling."""
from __future__ import annotations

from typing import Any

import netaddr
from django.core.exceptions import ValidationError
from django.db import models


def normalize_mac(value: Any) -> str:
    """'0C-C4-7A-00-00-01', '0cc4.7a00.0001', '0cc47a000001' → '0c:c4:7a:00:00:01'; anything else is refused."""
    text = str(value or "").strip()
    try:
        eui = netaddr.EUI(text, version=48)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        raise ValidationError(f"'{text}' is not a MAC address (expected six hex bytes, e.g. 0c:c4:7a:00:00:01).", code="invalid_mac") from None
    eui.dialect = netaddr.mac_unix_expanded
    return str(eui)


class MACAddressField(models.CharField):
    """A 48-bit MAC address, always stored lower-case and colon-separated so that uniqueness means something."""

    description = "MAC address (normalized)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 17)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[Any, ...]:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 17:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None or value == "":
            return value
        return normalize_mac(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Strict on the way into a row (also for bulk_create), whatever the caller did.
        value = getattr(model_instance, self.attname)
        if value not in (None, ""):
            value = normalize_mac(value)
            setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        # Lenient for lookups: an exact lookup with any spelling matches, while a partial
        # admin search such as `mac__icontains="0c:c4"` is passed through as typed.
        value = super().get_prep_value(value)
        if isinstance(value, str) and value:
            try:
                return normalize_mac(value)
            except ValidationError:
                return value.lower()
        return value
