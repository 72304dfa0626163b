from django.urls import path

from apps.installs.api import batches, events, lean, reservations, spot, staff, views

urlpatterns = [
    path("operating-systems", views.OperatingSystemListView.as_view(), name="operating-systems"),
    # Events read the audit log and the install timelines together.
    path("events", events.EventList.as_view(), name="events"),
    path("events/<uuid:pk>", events.EventDetail.as_view(), name="event"),
    path("projects/<uuid:project_pk>/events", events.EventList.as_view(), name="project-events"),
    path("organizations/<uuid:org_pk>/events", events.EventList.as_view(), name="organization-events"),
    path("devices/<uuid:device_pk>/events", events.EventList.as_view(), name="device-events"),
    path("operating-system-versions", views.OperatingSystemListView.as_view(), name="operating-system-versions"),
    # The two hot reads go through lean views that hand anything but the plain token-authenticated GET to the DRF view.
    path("projects/<uuid:project_pk>/devices", lean.project_devices, name="project-devices"),
    path("organizations/<uuid:org_pk>/devices", views.OrganizationDeviceListView.as_view(), name="organization-devices"),
    path("devices/<uuid:pk>", lean.device_detail, name="device"),
    path("devices/<uuid:pk>/actions", views.DeviceActionView.as_view(), name="device-actions"),
    path("devices/<uuid:pk>/ips", views.DeviceIPListView.as_view(), name="device-ips"),
    path("devices/<uuid:pk>/ssh-keys", views.DeviceSSHKeyListView.as_view(), name="device-ssh-keys"),
    path("projects/<uuid:pk>/hardware-reservations", reservations.ProjectHardwareReservationListView.as_view(), name="project-hardware-reservations"),
    path("hardware-reservations/<uuid:pk>", reservations.HardwareReservationDetailView.as_view(), name="hardware-reservation"),
    path("hardware-reservations/<uuid:pk>/move", reservations.HardwareReservationMoveView.as_view(), name="hardware-reservation-move"),
    path("projects/<uuid:pk>/devices/batch", batches.ProjectBatchCreateView.as_view(), name="project-device-batch"),
    path("projects/<uuid:pk>/batches", batches.ProjectBatchListView.as_view(), name="project-batches"),
    path("batches/<uuid:pk>", batches.BatchDetailView.as_view(), name="batch"),
    path("market/spot/prices", spot.SpotPricesView.as_view(), name="spot-prices"),
    path("market/spot/prices/metros", spot.SpotPricesMetrosView.as_view(), name="spot-prices-metros"),
    path("market/spot/prices/history", spot.SpotPricesHistoryView.as_view(), name="spot-prices-history"),
    path("projects/<uuid:pk>/spot-market-requests", spot.ProjectSpotMarketRequestsView.as_view(), name="project-spot-market-requests"),
    path("spot-market-requests/<uuid:pk>", spot.SpotMarketRequestDetailView.as_view(), name="spot-market-request"),
]

# Staff (under /api/): install runs and the registry's actions on servers.
staff_urlpatterns = [
    path("installs", staff.InstallListView.as_view(), name="installs"),
    path("installs/<uuid:pk>", staff.InstallDetailView.as_view(), name="install"),
    path("hardware/servers/<uuid:pk>/actions", staff.ServerActionView.as_view(), name="hardware-server-actions"),
]
