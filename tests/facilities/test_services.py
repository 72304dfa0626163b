"""Facilities services: creation is validated and audited; a rack cannot shrink below its equipment."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.facilities import services
from tests.facilities.factories import RackFactory
from tests.hardware.factories import SwitchFactory

pytestmark = pytest.mark.django_db


def test_create_metro_facility_rack_audited():
    metro = services.metro_create(code="zz", name="Zed", country="us")
    facility = services.facility_create(code="zz1", metro=metro, name="Zed 1")
    rack = services.rack_create(facility=facility, name="r01", height_u=48)
    assert metro.country == "US" and str(rack) == "zz1/r01"
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "facilities.metro.create", "facilities.facility.create", "facilities.rack.create"}


def test_codes_are_validated():
    with pytest.raises(ValidationError, match="lower-case letters and digits"):
        services.metro_create(code="DA-1", name="x", country="US")


def test_rack_cannot_shrink_below_what_is_mounted():
    rack = RackFactory(height_u=42)
    SwitchFactory(rack=rack, position_u=40)
    with pytest.raises(ValidationError) as exc:
        services.rack_update(rack=rack, height_u=39)
    assert "equipment up to U40" in str(exc.value)
    services.rack_update(rack=rack, height_u=40, name="renamed")
    rack.refresh_from_db()
    assert (rack.height_u, rack.name) == (40, "renamed")
