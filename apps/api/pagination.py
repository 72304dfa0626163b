"""Pagination in the Equinix Metal shape: `?page=N&per_page=M`, with a `meta` block."""
from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class MetalPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "per_page"
    max_page_size = 1000
    # The list's key in the response body ("devices", "projects" …); views set it.
    results_key = "results"

    def get_paginated_response(self, data: Any) -> Response:
        key = getattr(self, "results_key_override", None) or self.results_key
        page = self.page
        return Response({
            key: data,
            "meta": {
                "first": {"href": self.request.build_absolute_uri() if page.number == 1 else None},
                "next": {"href": self.get_next_link()} if page.has_next() else None,
                "previous": {"href": self.get_previous_link()} if page.has_previous() else None,
                "current_page": page.number,
                "last_page": page.paginator.num_pages,
                "total": page.paginator.count,
            },
        })

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        self.results_key_override = getattr(view, "results_key", None)
        return super().paginate_queryset(queryset, request, view)
