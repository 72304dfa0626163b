"""Metros, facilities and racks. What occupies each U is derived from the hardware mounted in it."""
from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

code_validator = RegexValidator(r"^[a-z][a-z0-9]*$", "Use lower-case letters and digits, starting with a letter (e.g. 'da', 'da11').")


class Metro(models.Model):
    code = models.CharField(max_length=8, unique=True, validators=[code_validator], help_text="e.g. 'da'")
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166 alpha-2, e.g. 'US'")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class Facility(models.Model):
    code = models.CharField(max_length=12, unique=True, validators=[code_validator], help_text="e.g. 'da11'")
    metro = models.ForeignKey(Metro, on_delete=models.PROTECT, related_name="facilities")
    name = models.CharField(max_length=100)
    address = models.TextField(blank=True)
    features = models.JSONField(default=list, blank=True, help_text="e.g. [\"baremetal\", \"layer_2\", \"global_ipv4\"]")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return self.code


class RackManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        # A rack is named "facility/name" everywhere (choices, filters, elevations): fetch the facility along.
        return super().get_queryset().select_related("facility")


class Rack(models.Model):
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=50)
    height_u = models.PositiveSmallIntegerField(default=42, validators=[MinValueValidator(1), MaxValueValidator(60)])
    power_budget_watts = models.PositiveIntegerField(default=8000)

    objects = RackManager()

    class Meta:
        ordering = ["facility__code", "name"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="rack_name_unique_in_facility"),
            models.CheckConstraint(condition=models.Q(height_u__gte=1, height_u__lte=60), name="rack_height_range"),
        ]

    def __str__(self) -> str:
        return f"{self.facility.code}/{self.name}" if self.facility_id else self.name
