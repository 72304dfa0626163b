"""The two API trees. The Equinix-Metal-shaped customer API lives only under /metal/v1/ and the staff
API (inventory, IPAM, installs, power) only under /api/; each has its own OpenAPI schema and docs.

Apps keep their own serializers and views (apps/<app>/api/); their `api/urls.py` exports
`urlpatterns` (customer routes) and/or `staff_urlpatterns`. This module only collects them, so
adding an app's API surface never edits a shared file."""
from __future__ import annotations

import importlib

from django.apps import apps
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView, SpectacularSwaggerView

Patterns = list[URLPattern | URLResolver]

customer_patterns: Patterns = []
staff_patterns: Patterns = []

for config in apps.get_app_configs():
    if not config.name.startswith("apps."):
        continue
    try:
        module = importlib.import_module(f"{config.name}.api.urls")
    except ModuleNotFoundError as exc:
        if exc.name in (f"{config.name}.api", f"{config.name}.api.urls"):
            continue
        raise
    customer_patterns += getattr(module, "urlpatterns", [])
    staff_patterns += getattr(module, "staff_urlpatterns", [])

customer_urlpatterns: Patterns = [
    path("openapi.json", SpectacularJSONAPIView.as_view(patterns=[path("metal/v1/", include(customer_patterns))],
                                                    custom_settings={"TITLE": "Metalyard — Equinix Metal API v1"}), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="metal:schema"), name="docs"),
    *customer_patterns,
]
staff_urlpatterns: Patterns = [
    path("schema/", SpectacularAPIView.as_view(patterns=[path("api/", include(staff_patterns))],
                                               custom_settings={"TITLE": "Metalyard staff API"}), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="staff:schema"), name="docs"),
    *staff_patterns,
]
