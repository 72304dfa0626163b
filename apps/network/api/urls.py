from django.urls import path

from apps.network.api import layer2_views, views

# Customers: Equinix Metal shapes (under /metal/v1/).
urlpatterns = [
    path("projects/<uuid:pk>/bgp-config", views.ProjectBgpConfigView.as_view(), name="project-bgp-config"),
    path("projects/<uuid:pk>/bgp-configs", views.ProjectBgpConfigRequestView.as_view(), name="project-bgp-configs"),
    path("projects/<uuid:pk>/bgp/sessions", views.ProjectBgpSessionsView.as_view(), name="project-bgp-sessions"),
    path("projects/<uuid:pk>/global-bgp-ranges", views.ProjectGlobalBgpRangesView.as_view(), name="project-global-bgp-ranges"),
    path("devices/<uuid:pk>/bgp/sessions", views.DeviceBgpSessionsView.as_view(), name="device-bgp-sessions"),
    path("devices/<uuid:pk>/bgp/neighbors", views.DeviceBgpNeighborsView.as_view(), name="device-bgp-neighbors"),
    path("bgp/sessions/<uuid:pk>", views.BgpSessionView.as_view(), name="bgp-session"),
    path("projects/<uuid:pk>/virtual-networks", layer2_views.ProjectVlansView.as_view(), name="project-virtual-networks"),
    path("virtual-networks/<uuid:pk>", layer2_views.VlanView.as_view(), name="virtual-network"),
    path("ports/<str:pk>", layer2_views.PortView.as_view(), name="port"),
    path("ports/<str:pk>/vlan-assignments", layer2_views.PortVlanAssignmentsView.as_view(), name="port-vlan-assignments"),
    path("ports/<str:pk>/vlan-assignments/batches", layer2_views.PortVlanBatchesView.as_view(), name="port-vlan-batches"),
    path("ports/<str:pk>/vlan-assignments/batches/<uuid:batch_id>", layer2_views.PortVlanBatchView.as_view(), name="port-vlan-batch"),
    path("ports/<str:pk>/vlan-assignments/<uuid:assignment_id>", layer2_views.PortVlanAssignmentView.as_view(), name="port-vlan-assignment"),
    *[path(f"ports/<str:pk>/{action}", layer2_views.PortActionView.as_view(action_name=action), name=f"port-{action.replace('/', '-')}")
      for action in ("assign", "unassign", "native-vlan", "convert/layer-2", "convert/layer-3", "bond", "disbond")],
]
