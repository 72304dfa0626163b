from django.apps import AppConfig


class HardwareConfig(AppConfig):
    name = "apps.hardware"
    label = "hardware"
    verbose_name = "Hardware inventory"
