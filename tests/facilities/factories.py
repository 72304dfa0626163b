"""factory_boy factories for metros, facilities and racks."""
from __future__ import annotations

import factory

from apps.facilities.models import Facility, Metro, Rack


class MetroFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metro
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"m{n}")
    name = factory.LazyAttribute(lambda m: f"Metro {m.code}")
    country = "US"


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"fc{n}")
    metro = factory.SubFactory(MetroFactory)
    name = factory.LazyAttribute(lambda f: f"Facility {f.code}")


class RackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rack

    facility = factory.SubFactory(FacilityFactory)
    name = factory.Sequence(lambda n: f"r{n:03d}")
    height_u = 42
