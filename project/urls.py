"""The public site's URLs: staff admin, customer portal, API. The endpoints machines call are not here:
they are served on the provisioning listener only (project/provisioning_urls.py, project/listeners.py)."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

admin.site.site_header = "Metalyard staff"
admin.site.site_title = "Metalyard"
admin.site.index_title = "Operations"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    # The staff API (inventory, IPAM, installs, power) and the Equinix-Metal-shaped customer API:
    # two trees, each with its own schema. Existing Metal clients only change their base URL.
    path("api/", include(("apps.api.staff_urls", "staff"), namespace="staff")),
    path("metal/v1/", include(("apps.api.metal_urls", "metal"), namespace="metal")),
    # Before the portal's: its devices/<id>/<action>/ would take the console tab's path.
    path("", include("apps.console.urls", namespace="console")),
    path("", include("apps.portal.urls", namespace="portal")),
]
