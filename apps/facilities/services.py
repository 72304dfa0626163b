"""Every write to metros, facilities and racks."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_record, diff, snapshot
from apps.facilities.models import Facility, Metro, Rack


@transaction.atomic
def metro_create(*, code: str, name: str, country: str, actor: Any = None) -> Metro:
    metro = Metro(code=code, name=name, country=country.upper())
    metro.full_clean()
    metro.save()
    audit_record(action="facilities.metro.create", target=metro, changes=diff({}, snapshot(metro)), actor=actor)
    return metro


@transaction.atomic
def facility_create(*, code: str, metro: Metro, name: str, address: str = "", features: list[str] | None = None,
                    actor: Any = None) -> Facility:
    facility = Facility(code=code, metro=metro, name=name, address=address, features=features or [])
    facility.full_clean()
    facility.save()
    audit_record(action="facilities.facility.create", target=facility, changes=diff({}, snapshot(facility)), actor=actor)
    return facility


@transaction.atomic
def rack_create(*, facility: Facility, name: str, height_u: int = 42, power_budget_watts: int = 8000, actor: Any = None) -> Rack:
    rack = Rack(facility=facility, name=name, height_u=height_u, power_budget_watts=power_budget_watts)
    rack.full_clean()
    rack.save()
    audit_record(action="facilities.rack.create", target=rack, changes=diff({}, snapshot(rack)), actor=actor)
    return rack


def rack_height_check(*, rack: Rack, height_u: int) -> None:
    """The one rule for a rack's height: never below the highest U something is mounted at. (Mounted
    units are the hardware app's; they are read through the reverse relation `rack.units`, since
    hardware builds on facilities, not the other way round.)"""
    highest = rack.units.order_by("-u").values_list("u", flat=True).first() if rack.pk else None
    if highest and height_u < highest:
        raise ValidationError({"height_u": f"Rack {rack} has equipment up to U{highest}; move it before making the rack {height_u}U high."})


@transaction.atomic
def rack_update(*, rack: Rack, actor: Any = None, **fields: Any) -> Rack:
    """Rename a rack or change its height or power budget; a rack cannot shrink below what is mounted in it."""
    unknown = set(fields) - {"name", "height_u", "power_budget_watts"}
    if unknown:
        raise ValueError(f"rack_update cannot change {', '.join(sorted(unknown))}")
    locked = Rack.objects.select_for_update().get(pk=rack.pk)
    before = snapshot(locked)
    for name, value in fields.items():
        setattr(rack, name, value)
    rack_height_check(rack=locked, height_u=rack.height_u)
    rack.full_clean()
    rack.save()
    changes = diff(before, snapshot(rack))
    if changes:
        audit_record(action="facilities.rack.update", target=rack, changes=changes, actor=actor)
    return rack
