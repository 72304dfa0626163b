from django.apps import AppConfig


class IpamConfig(AppConfig):
    name = "apps.ipam"
    label = "ipam"
    verbose_name = "IP address management"
