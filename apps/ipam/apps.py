from django.apps import AppConfig


class IpamConfig(AppConfig):
    name = "apps.ipam"
    label = "ipam"
    verbose_name = "IP address management"

    def ready(self) -> None:
        from apps.accounts.models import QuotaResource
        from apps.accounts.quotas import quota_usage_register
        from apps.hardware.services import HOLD_ADDRESSES
        from apps.ipam.selectors import project_held_by_blocks, server_held_by_addresses
        from apps.ipam.services import reserved_ipv6_blocks, reserved_public_ipv4_addresses
        from project.holds import holds_register

        holds_register("server", HOLD_ADDRESSES, server_held_by_addresses)
        holds_register("project", "ip space", project_held_by_blocks)
        quota_usage_register(QuotaResource.PUBLIC_IPV4_ADDRESSES, reserved_public_ipv4_addresses)
        quota_usage_register(QuotaResource.IPV6_BLOCKS, reserved_ipv6_blocks)
