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


def provisioning_address(server) -> str:
    """Give the server's facility a provisioning network in 127.0.0.0/8 (never 127.0.0.1, the test
    clients' own address) if it has none, reserve the server's NICs, return its first NIC's address."""
    from apps.installs.models import ProvisioningNetwork, ProvisioningReservation
    from apps.installs.provisioning import provisioning_network_set, provisioning_reserve

    facility = server.facility
    if not ProvisioningNetwork.objects.filter(facility=facility).exists():
        provisioning_network_set(facility=facility, network=f"127.{100 + (facility.pk // 256) % 100}.{facility.pk % 256}.0/24")
    provisioning_reserve(servers=[server])
    return (ProvisioningReservation.objects.filter(interface__server=server).order_by("interface__name")
            .values_list("address", flat=True).first())
