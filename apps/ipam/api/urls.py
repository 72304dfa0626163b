from django.urls import path

from apps.ipam.api import lean, views

# Staff: the whole tree (under /api/). The hot endpoints go through lean views that hand anything but
# the plain token-authenticated case to the DRF view (apps/ipam/api/lean.py).
staff_urlpatterns = [
    path("ipam/blocks", views.BlockListView.as_view(), name="ipam-blocks"),
    path("ipam/blocks/<int:pk>", views.BlockDetailView.as_view(), name="ipam-block"),
    path("ipam/blocks/<int:pk>/allocate", lean.block_allocate, name="ipam-block-allocate"),
    path("ipam/blocks/<int:pk>/release", views.BlockReleaseView.as_view(), name="ipam-block-release"),
    path("ipam/blocks/<int:pk>/free", lean.block_free, name="ipam-block-free"),
    path("ipam/blocks/<int:pk>/utilisation", lean.block_utilisation, name="ipam-block-utilisation"),
    path("ipam/who-held", lean.who_held, name="ipam-who-held"),
    path("ipam/history", views.AddressHistoryView.as_view(), name="ipam-history"),
]

# Customers: Equinix Metal shapes (under /metal/v1/).
urlpatterns = [
    path("projects/<uuid:project_pk>/ips", views.ProjectIPListView.as_view(), name="project-ips"),
    path("ips/<uuid:pk>", views.IPDetailView.as_view(), name="ip"),
    path("ips/<uuid:pk>/available", views.IPAvailableView.as_view(), name="ip-available"),
    path("ips/<uuid:pk>/assignments", views.IPAssignmentListView.as_view(), name="ip-assignments"),
]
