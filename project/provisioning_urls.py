"""The provisioning listener's URLconf: the endpoints netbooting machines and running devices call,
and nothing else (no portal, API or admin)."""
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("apps.installs.urls")),
]
