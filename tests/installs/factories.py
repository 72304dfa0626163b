"""factory_boy factories for the installs app: operating systems, devices and install runs, built in
the state a test needs (fixtures, not transitions)."""
from __future__ import annotations

import hashlib

import factory

from apps.installs.models import Device, DeviceState, Install, InstallKind, InstallState, OperatingSystem
from tests.factories import ProjectFactory
from tests.hardware.factories import PlanFactory

IMAGE = b"metalyard test image\n" * 100


class OperatingSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OperatingSystem
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"testos_{n}")
    name = factory.LazyAttribute(lambda o: o.slug)
    distro = "testos"
    version = "1"
    image_url = "/netboot/assets/test.img"
    image_sha256 = hashlib.sha256(IMAGE).hexdigest()
    image_size = len(IMAGE)

    @factory.post_generation
    def plans(self, create: bool, extracted: list | None, **kwargs: object) -> None:
        if create and extracted:
            self.plans.add(*extracted)


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    project = factory.SubFactory(ProjectFactory)
    hostname = factory.Sequence(lambda n: f"host{n}")
    plan = factory.SubFactory(PlanFactory)
    facility = None
    metro = None
    operating_system = factory.SubFactory(OperatingSystemFactory)
    state = DeviceState.QUEUED


class InstallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Install

    kind = InstallKind.PROVISION
    device = None
    server = None
    state = InstallState.QUEUED
