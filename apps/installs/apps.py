from django.apps import AppConfig


class InstallsConfig(AppConfig):
    name = "apps.installs"
    label = "installs"
    verbose_name = "Devices and installs"

    def ready(self) -> None:
        from apps.accounts.models import QuotaResource
        from apps.accounts.quotas import quota_usage_register
        from apps.hardware.services import HOLD_DEVICE
        from apps.installs.selectors import customer_device_ref, live_devices_count, project_live_device_hostname
        from apps.installs.services.coupling import project_held_by_devices, server_held_by_device
        from apps.ipam.selectors import device_hostname_lookup_register
        from apps.network.devices import customer_device_lookup_register
        from project.holds import holds_register

        holds_register("server", HOLD_DEVICE, server_held_by_device)
        holds_register("project", "devices", project_held_by_devices)
        device_hostname_lookup_register(project_live_device_hostname)
        quota_usage_register(QuotaResource.DEVICES, live_devices_count)
        customer_device_lookup_register(customer_device_ref)
