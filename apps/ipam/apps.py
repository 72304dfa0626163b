from django.apps import AppConfig


class IpamConfig(AppConfig):
    name = "apps.ipam"
    label = "ipam"
    verbose_name = "IP address management"

    def ready(self) -> None:
        from apps.hardware.services import HOLD_ADDRESSES
        from apps.ipam.selectors import project_held_by_blocks, server_held_by_addresses
        from project.holds import holds_register

        holds_register("server", HOLD_ADDRESSES, server_held_by_addresses)
        holds_register("project", "ip space", project_held_by_blocks)
