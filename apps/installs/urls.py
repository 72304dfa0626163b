"""The provisioning listener's machine routes: iPXE scripts, netboot assets, the per-install calls, discovery, and
the metadata service (mounted by project/provisioning_urls.py; never on the public site)."""
from django.urls import URLPattern, URLResolver, path, re_path

from apps.installs import metadata, views

app_name = "installs"
urlpatterns: list[URLPattern | URLResolver] = [
    path("ipxe/boot.ipxe", views.ipxe_entry, name="ipxe-entry"),
    path("ipxe/mac/<str:mac>", views.ipxe_for_mac, name="ipxe-mac"),
    path("machine/<uuid:install_id>/claim", views.claim, name="claim"),
    path("machine/<uuid:install_id>/custom.ipxe", views.custom_script, name="custom-ipxe"),
    path("machine/<uuid:install_id>/metadata", views.metadata, name="metadata"),
    path("machine/<uuid:install_id>/userdata", views.userdata, name="userdata"),
    path("machine/<uuid:install_id>/events", views.events, name="events"),
    path("machine/<uuid:install_id>/phone-home", views.phone_home, name="phone-home"),
    path("machine/<uuid:install_id>/failure", views.failure, name="failure"),
    path("machine/<uuid:install_id>/inventory", views.inventory, name="inventory"),
    path("discovery/<str:mac>/inventory", views.discovery_inventory, name="discovery-inventory"),
    path("netboot/assets/<path:name>", views.netboot_asset, name="netboot-asset"),
    # The metadata service, by the caller's address, for the device's whole life.
    path("metadata", metadata.metadata, name="device-metadata"),
    path("userdata", metadata.userdata, name="device-userdata"),
    re_path(r"^(?P<version>2009-04-04|latest)/?$", metadata.ec2_index, name="ec2-index"),
    re_path(r"^(?P<version>2009-04-04|latest)/meta-data/(?P<path>.*)$", metadata.ec2_meta_data, name="ec2-meta-data"),
    re_path(r"^(?P<version>2009-04-04|latest)/user-data$", metadata.ec2_user_data, name="ec2-user-data"),
]
