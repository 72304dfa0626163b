from django.apps import AppConfig


class FacilitiesConfig(AppConfig):
    name = "apps.facilities"
    label = "facilities"
    verbose_name = "Facilities and racks"
