"""The console's pages on the public site (the SOS listener is its own process: manage.py sos)."""
from django.urls import URLPattern, path

from apps.console import views

app_name = "console"
urlpatterns: list[URLPattern] = [
    path("devices/<uuid:pk>/console/", views.device_console, name="device"),
]
