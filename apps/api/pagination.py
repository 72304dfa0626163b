"""Pagination in the Equinix Metal shape: `?page=N&per_page=M`, with a `meta` block whose links
(`first`, `previous`, `self`, `next`, `last`) are relative hrefs, as the real service writes them.
Relative links never carry a token to another scheme or host behind a TLS proxy."""
from __future__ import annotations

from typing import Any

from django.utils.http import urlencode
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class MetalPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "per_page"
    max_page_size = 1000
    # The list's key in the response body ("devices", "projects" …); views set it.
    results_key = "results"

    def _href(self, number: int) -> dict[str, str]:
        params = [(k, v) for k, values in self.request.query_params.lists() for v in values if k != self.page_query_param]
        params.append((self.page_query_param, str(number)))
        return {"href": f"{self.request.path}?{urlencode(params)}"}

    def get_paginated_response(self, data: Any) -> Response:
        key = getattr(self, "results_key_override", None) or self.results_key
        page = self.page
        last = page.paginator.num_pages
        return Response({
            key: data,
            "meta": {
                "first": self._href(1),
                "previous": self._href(page.number - 1) if page.has_previous() else None,
                "self": self._href(page.number),
                "next": self._href(page.number + 1) if page.has_next() else None,
                "last": self._href(last),
                "current_page": page.number,
                "last_page": last,
                "total": page.paginator.count,
            },
        })

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "object", "nullable": True, "properties": {"href": {"type": "string"}}}
        return {"type": "object", "properties": {
            "meta": {"type": "object", "properties": {
                **{name: link for name in ("first", "previous", "self", "next", "last")},
                "current_page": {"type": "integer"}, "last_page": {"type": "integer"}, "total": {"type": "integer"}}},
        }}

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        self.results_key_override = getattr(view, "results_key", None)
        return super().paginate_queryset(queryset, request, view)
