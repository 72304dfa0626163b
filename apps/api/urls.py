"""The API's URL tree: every app's `apps.<app>.api.urls` is mounted under /api/.

Apps keep their own serializers and views (apps/<app>/api/); this module only collects them,
so adding an app's API surface never edits a shared file."""
from __future__ import annotations

import importlib

from django.apps import apps
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

for config in apps.get_app_configs():
    if not config.name.startswith("apps."):
        continue
    try:
        module = importlib.import_module(f"{config.name}.api.urls")
    except ModuleNotFoundError as exc:
        if exc.name in (f"{config.name}.api", f"{config.name}.api.urls"):
            continue
        raise
    urlpatterns += module.urlpatterns
