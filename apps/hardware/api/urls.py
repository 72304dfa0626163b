from django.urls import path

from apps.hardware.api import catalog, views

urlpatterns = [
    # The read-only catalog every customer may list.
    path("locations/metros", catalog.MetroList.as_view(), name="metros"),
    path("facilities", catalog.FacilityList.as_view(), name="facilities"),
    path("plans", catalog.PlanList.as_view(), name="plans"),
    path("plans/<int:pk>", catalog.PlanDetail.as_view(), name="plan"),
    path("hardware/servers", views.ServerListView.as_view(), name="hardware-servers"),
    path("hardware/servers/<uuid:pk>", views.ServerDetailView.as_view(), name="hardware-server"),
    path("hardware/servers/<uuid:pk>/transition", views.ServerTransitionView.as_view(), name="hardware-server-transition"),
    path("hardware/servers/<uuid:pk>/commissioning", views.ServerCommissioningView.as_view(), name="hardware-server-commissioning"),
    path("hardware/import", views.RackImportView.as_view(), name="hardware-import"),
    path("hardware/racks/<int:pk>/elevation.svg", views.RackElevationView.as_view(), name="hardware-rack-elevation"),
]
