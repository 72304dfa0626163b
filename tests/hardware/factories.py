"""factory_boy factories for the hardware inventory. Other apps' tests build servers, BMCs, switches
and cables with these. Servers are created in the state a test needs (a fixture, not a transition)."""
from __future__ import annotations

from decimal import Decimal

import factory

from apps.hardware.models import (
    BMC,
    BMCProtocol,
    Cable,
    NetworkInterface,
    Plan,
    Server,
    ServerState,
    Switch,
    SwitchPort,
)
from tests.facilities.factories import FacilityFactory, RackFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"t{n}.small.x86")
    name = factory.LazyAttribute(lambda p: p.slug)
    cpu_model = "AMD EPYC 7402P"
    cpu_count = 1
    cpu_cores = 24
    ram_gb = 64
    disks = factory.LazyFunction(lambda: [{"count": 2, "size_gb": 480, "type": "ssd"}])
    nic_count = 2
    nic_speed_gbps = 10
    price_hourly = Decimal("0.5000")


class ServerFactory(factory.django.DjangoModelFactory):
    """An unracked server; pass `rack=` and `position_u=` to mount it (facility follows the rack)."""

    class Meta:
        model = Server

    serial = factory.Sequence(lambda n: f"SN{n:06d}")
    asset_tag = factory.Sequence(lambda n: f"AT{n:06d}")
    plan = factory.SubFactory(PlanFactory)
    facility = factory.LazyAttribute(lambda s: s.rack.facility if s.rack else FacilityFactory())
    rack = None
    position_u = None
    state = ServerState.READY


class NetworkInterfaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NetworkInterface

    server = factory.SubFactory(ServerFactory)
    name = factory.Sequence(lambda n: f"eth{n}")
    mac = factory.Sequence(lambda n: f"0c:c4:7a:{(n >> 16) & 0xff:02x}:{(n >> 8) & 0xff:02x}:{n & 0xff:02x}")
    speed_mbps = 10000


class BMCFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BMC

    server = factory.SubFactory(ServerFactory)
    protocol = BMCProtocol.IPMI
    host = "127.0.0.1"
    port = 623
    username = "admin"
    password = "secret"


class SwitchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Switch

    hostname = factory.Sequence(lambda n: f"sw{n}.test")
    facility = factory.LazyAttribute(lambda s: s.rack.facility if s.rack else FacilityFactory())
    rack = None
    position_u = None
    model = "qfx5120-48y"
    mgmt_host = "127.0.0.1"
    mgmt_port = 830
    username = "netconf"
    password = "secret"


class SwitchPortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SwitchPort

    switch = factory.SubFactory(SwitchFactory)
    name = factory.Sequence(lambda n: f"xe-0/0/{n}")


class CableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cable

    interface = factory.SubFactory(NetworkInterfaceFactory)
    port = factory.SubFactory(SwitchPortFactory, switch__facility=factory.SelfAttribute("...interface.server.facility"))


__all__ = ["BMCFactory", "CableFactory", "FacilityFactory", "NetworkInterfaceFactory", "PlanFactory", "RackFactory", "ServerFactory",
           "SwitchFactory", "SwitchPortFactory"]
