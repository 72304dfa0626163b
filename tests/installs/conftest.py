"""Fixtures of the installs tests: a facility with IP pools and ready servers cabled to a switch."""
from __future__ import annotations

import pytest

from apps.ipam import services as ipam
from apps.ipam.models import Kind
from tests.hardware.factories import (
    CableFactory,
    FacilityFactory,
    NetworkInterfaceFactory,
    PlanFactory,
    ServerFactory,
    SwitchFactory,
    SwitchPortFactory,
)
from tests.installs.factories import OperatingSystemFactory
from tests.installs.lab_site import lab_site, provisioning_server  # noqa: F401 - fixtures the workflow tests use


@pytest.fixture
def pools(db):
    """A facility with public IPv4, private IPv4 and IPv6 pools."""
    facility = FacilityFactory()
    for network, supernet, public in (("147.75.0.0/24", "147.75.0.0/16", True), ("10.11.0.0/24", "10.0.0.0/8", False),
                                      ("2604:1380:1000::/48", "2604:1380::/32", True)):
        parent = ipam.block_create(network=supernet, kind=Kind.SUPERNET)
        ipam.block_create(network=network, kind=Kind.POOL, parent=parent, facility=facility, public=public)
    return facility


def make_server(facility, plan, *, switch=None, index: int = 0, mac: str | None = None):
    server = ServerFactory(facility=facility, plan=plan)
    nic = NetworkInterfaceFactory(server=server, name="eth0", **({"mac": mac} if mac else {}))
    if switch is not None:
        CableFactory(interface=nic, port=SwitchPortFactory(switch=switch, name=f"xe-0/0/{index}"))
    return server


@pytest.fixture
def rack(pools):
    """Three ready servers of one plan, cabled to one switch, and an OS for that plan."""
    plan = PlanFactory()
    switch = SwitchFactory(facility=pools)
    servers = [make_server(pools, plan, switch=switch, index=i) for i in range(3)]
    os_ = OperatingSystemFactory(plans=[plan])
    return {"facility": pools, "plan": plan, "switch": switch, "servers": servers, "os": os_}
