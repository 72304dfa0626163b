"""Bounded JSON request bodies: one parser for the API (a DRF parser) and the machine endpoints (a function).

Python's json module recurses once per nesting level, so `[` × 50 000 raises RecursionError deep inside
the parser (a 500, and with DEBUG a debug page). The depth is measured on the raw text first — brackets
outside string literals — and parsing stops at the first level past the limit, so a hostile body costs
a few microseconds. The size is checked before anything is read into memory twice.
"""
from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A JSON string literal (with escapes), or one bracket; strings are skipped so "[[[" inside a value is text.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.S)


class JSONBodyError(ValueError):
    """The body is not acceptable JSON; the message says why (shown to the caller as a 400)."""


def check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _TOKENS.finditer(text):
        piece = match.group()
        if piece in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JSONBodyError(f"JSON nested more than {max_depth} levels deep.")
        elif piece in ("]", "}"):
            depth -= 1


def loads_bounded(raw: bytes | str, *, max_bytes: int | None = None, max_depth: int | None = None) -> Any:
    """Parse a request body as JSON within the size and nesting limits; JSONBodyError says what is wrong."""
    max_bytes = settings.JSON_BODY_MAX_BYTES if max_bytes is None else max_bytes
    max_depth = settings.JSON_BODY_MAX_DEPTH if max_depth is None else max_depth
    if len(raw) > max_bytes:
        raise JSONBodyError(f"The request body is larger than {max_bytes} bytes.")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise JSONBodyError("The request body is not UTF-8.") from exc
    check_depth(text, max_depth)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise JSONBodyError(f"The request body is not valid JSON: {exc}") from exc


def request_json(request: HttpRequest, *, max_bytes: int | None = None) -> Any:
    """For plain Django views (the machine endpoints): the body as JSON, refusing oversize bodies before reading them."""
    max_bytes = settings.JSON_BODY_MAX_BYTES if max_bytes is None else max_bytes
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise JSONBodyError("Content-Length is not a number.") from exc
    if declared > max_bytes:
        raise JSONBodyError(f"The request body is larger than {max_bytes} bytes.")
    return loads_bounded(request.body, max_bytes=max_bytes)


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the size and nesting limits (a 400 with the reason)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.JSON_BODY_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        try:
            return loads_bounded(raw, max_bytes=limit)
        except JSONBodyError as exc:
            raise ParseError(str(exc)) from exc
