from django.urls import path

from apps.hardware.api import catalog, views

# Customers (under /metal/v1/): the read-only catalog and capacity.
urlpatterns = [
    path("locations/metros", catalog.MetroList.as_view(), name="metros"),
    path("locations/metros/<uuid:pk>", catalog.MetroDetail.as_view(), name="metro"),
    path("facilities", catalog.FacilityList.as_view(), name="facilities"),
    path("facilities/<uuid:pk>", catalog.FacilityDetail.as_view(), name="facility"),
    path("plans", catalog.PlanList.as_view(), name="plans"),
    path("plans/<uuid:pk>", catalog.PlanDetail.as_view(), name="plan"),
    path("projects/<uuid:project_pk>/plans", catalog.PlanList.as_view(), name="project-plans"),
    path("capacity", catalog.FacilityCapacity.as_view(), name="capacity"),
    path("capacity/metros", catalog.MetroCapacity.as_view(), name="capacity-metros"),
]

# Staff (under /api/).
staff_urlpatterns = [
    path("hardware/servers", views.ServerListView.as_view(), name="hardware-servers"),
    path("hardware/servers/<uuid:pk>", views.ServerDetailView.as_view(), name="hardware-server"),
    path("hardware/servers/<uuid:pk>/transition", views.ServerTransitionView.as_view(), name="hardware-server-transition"),
    path("hardware/servers/<uuid:pk>/commissioning", views.ServerCommissioningView.as_view(), name="hardware-server-commissioning"),
    path("hardware/import", views.RackImportView.as_view(), name="hardware-import"),
    path("hardware/racks/<int:pk>/elevation.svg", views.RackElevationView.as_view(), name="hardware-rack-elevation"),
]
