from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "apps.network"
    label = "network"
    verbose_name = "Switch automation"

    def ready(self) -> None:
        from apps.ipam.selectors import project_blocks_listener_register
        from apps.network.bgp import bgp_project_refresh

        # A project's customer BGP filters follow its IP reservations (added or released).
        project_blocks_listener_register(bgp_project_refresh)
