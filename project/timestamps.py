"""Timestamps as the Equinix Metal API writes them: RFC 3339 in UTC, whole seconds, `Z` (`2026-12-03T07:38:15Z`).
Both API trees render every datetime this way (apps.api.renderers, REST_FRAMEWORK's DATETIME_FORMAT); code that
builds a timestamp string itself uses `metal_time`."""
from __future__ import annotations

import datetime as dt

METAL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def metal_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime(METAL_TIME_FORMAT)
