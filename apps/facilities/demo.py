"""Demo facilities: metros da and ny, facilities da11, da6 and ny5, twelve 42U racks."""
from __future__ import annotations

from typing import Any

from apps.facilities import services
from apps.facilities.models import Facility, Metro, Rack

METROS = [("da", "Dallas", "US"), ("ny", "New York", "US")]
FACILITIES = [
    # code, metro, name, address, racks
    ("da11", "da", "Dallas 11", "1950 N Stemmons Fwy, Dallas, TX", 5),
    ("da6", "da", "Dallas 6", "2323 Bryan St, Dallas, TX", 4),
    ("ny5", "ny", "New York 5", "800 Secaucus Rd, Secaucus, NJ", 3),
]
FEATURES = ["baremetal", "global_ipv4", "backend_transfer"]


def seed(*, out: Any, context: dict[str, Any]) -> str:
    metros = {m.code: m for m in Metro.objects.all()}
    for code, name, country in METROS:
        if code not in metros:
            metros[code] = services.metro_create(code=code, name=name, country=country)
    facilities = {f.code: f for f in Facility.objects.all()}
    racks = {(r.facility.code, r.name) for r in Rack.objects.select_related("facility")}
    for code, metro, name, address, rack_count in FACILITIES:
        if code not in facilities:
            facilities[code] = services.facility_create(code=code, metro=metros[metro], name=name, address=address, features=FEATURES)
        for number in range(1, rack_count + 1):
            if (code, f"r{number:02d}") not in racks:
                services.rack_create(facility=facilities[code], name=f"r{number:02d}", height_u=42, power_budget_watts=12000)
    return f"{Metro.objects.count()} metros, {Facility.objects.count()} facilities, {Rack.objects.count()} racks"
