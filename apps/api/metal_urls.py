"""The customer tree, mounted at /metal/v1/ by project/urls.py (built in apps/api/urls.py)."""
from apps.api.urls import customer_urlpatterns as urlpatterns  # noqa: F401 - Django reads `urlpatterns`
