from django.urls import path

from apps.installs.api import views

urlpatterns = [
    path("operating-systems", views.OperatingSystemListView.as_view(), name="operating-systems"),
    path("projects/<uuid:project_pk>/devices", views.ProjectDeviceListView.as_view(), name="project-devices"),
    path("devices/<uuid:pk>", views.DeviceDetailView.as_view(), name="device"),
    path("devices/<uuid:pk>/actions", views.DeviceActionView.as_view(), name="device-actions"),
]
