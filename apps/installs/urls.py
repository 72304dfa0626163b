"""URLs the netbooting machines call (mounted at the site root by project/urls.py)."""
from django.urls import URLPattern, URLResolver, path

from apps.installs import views

app_name = "installs"
urlpatterns: list[URLPattern | URLResolver] = [
    path("ipxe/boot.ipxe", views.ipxe_entry, name="ipxe-entry"),
    path("ipxe/mac/<str:mac>", views.ipxe_for_mac, name="ipxe-mac"),
    path("machine/<uuid:install_id>/claim", views.claim, name="claim"),
    path("machine/<uuid:install_id>/metadata", views.metadata, name="metadata"),
    path("machine/<uuid:install_id>/userdata", views.userdata, name="userdata"),
    path("machine/<uuid:install_id>/events", views.events, name="events"),
    path("machine/<uuid:install_id>/phone-home", views.phone_home, name="phone-home"),
    path("machine/<uuid:install_id>/failure", views.failure, name="failure"),
    path("machine/<uuid:install_id>/inventory", views.inventory, name="inventory"),
    path("discovery/<str:mac>/inventory", views.discovery_inventory, name="discovery-inventory"),
    path("netboot/assets/<path:name>", views.netboot_asset, name="netboot-asset"),
]
