from django.urls import path

from apps.ipam.api import views

urlpatterns = [
    # Staff: the whole tree.
    path("ipam/blocks", views.BlockListView.as_view(), name="ipam-blocks"),
    path("ipam/blocks/<int:pk>", views.BlockDetailView.as_view(), name="ipam-block"),
    path("ipam/blocks/<int:pk>/allocate", views.BlockAllocateView.as_view(), name="ipam-block-allocate"),
    path("ipam/blocks/<int:pk>/release", views.BlockReleaseView.as_view(), name="ipam-block-release"),
    path("ipam/blocks/<int:pk>/free", views.BlockFreeView.as_view(), name="ipam-block-free"),
    path("ipam/blocks/<int:pk>/utilisation", views.BlockUtilisationView.as_view(), name="ipam-block-utilisation"),
    path("ipam/who-held", views.WhoHeldView.as_view(), name="ipam-who-held"),
    path("ipam/history", views.AddressHistoryView.as_view(), name="ipam-history"),
    # Customers: Equinix Metal shapes.
    path("projects/<uuid:project_pk>/ips", views.ProjectIPListView.as_view(), name="project-ips"),
    path("ips/<int:pk>", views.IPDetailView.as_view(), name="ip"),
    path("ips/<int:pk>/available", views.IPAvailableView.as_view(), name="ip-available"),
    path("ips/<int:pk>/assignments", views.IPAssignmentListView.as_view(), name="ip-assignments"),
]
