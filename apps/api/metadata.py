"""OPTIONS answers for both API trees: the allowed methods and formats, without DRF's form description
(its SimpleMetadata instantiates a view's serializer, which these views build per request: a 500)."""
from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class APIMetadata(SimpleMetadata):
    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
