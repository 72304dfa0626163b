"""The staff tree, mounted at /api/ by project/urls.py (built in apps/api/urls.py)."""
from apps.api.urls import staff_urlpatterns as urlpatterns  # noqa: F401 - Django reads `urlpatterns`
