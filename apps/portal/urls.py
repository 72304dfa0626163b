from django.urls import URLPattern, URLResolver, path

from apps.portal import views

app_name = "portal"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("projects/<uuid:pk>/", views.project_detail, name="project"),
    path("projects/<uuid:pk>/devices/", views.device_order, name="device-order"),
    path("devices/<uuid:pk>/", views.device_detail, name="device"),
    path("devices/<uuid:pk>/<str:action>/", views.device_action, name="device-action"),
    path("invoices/<uuid:pk>/", views.invoice_detail, name="invoice"),
    path("ssh-keys/add/", views.ssh_key_add, name="ssh-key-add"),
    path("ssh-keys/<uuid:pk>/delete/", views.ssh_key_delete, name="ssh-key-delete"),
    path("api-tokens/create/", views.api_token_create, name="api-token-create"),
    path("api-tokens/<uuid:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
]
