"""The contract the installs and switch code rely on: a server's three point-to-point blocks."""
from __future__ import annotations

import uuid

import pytest

from apps.ipam import selectors, services
from apps.ipam.models import Assignment, Block, Kind
from tests.factories import ProjectFactory
from tests.hardware.factories import ServerFactory


@pytest.fixture
def server(facility, pool4, private_pool, pool6):
    return ServerFactory(facility=facility)


def test_assign_gives_public_private_and_ipv6_with_gateways(server):
    project, device = ProjectFactory(), uuid.uuid4()
    got = services.server_addresses_assign(server=server, project=project, device_id=device, device_label="web-1")
    assert [(a.network, a.gateway, a.address, a.family, a.public) for a in got] == [
        ("147.75.0.0/31", "147.75.0.0", "147.75.0.1", 4, True),
        ("10.11.0.0/31", "10.11.0.0", "10.11.0.1", 4, False),
        ("2604:1380:1000::/127", "2604:1380:1000::", "2604:1380:1000::1", 6, True),
    ]
    assert all(a.project == project and a.device_id == device and a.device_label == "web-1" and a.server_id == server.pk for a in got)
    assert [a.pk for a in selectors.server_addresses(server)] == [a.pk for a in got]
    assert [a.pk for a in selectors.device_addresses(device)] == [a.pk for a in got]


def test_assign_is_idempotent(server):
    first = services.server_addresses_assign(server=server)
    again = services.server_addresses_assign(server=server, public_ipv4_prefix=29)
    assert [a.pk for a in again] == [a.pk for a in first]
    assert Assignment.objects.filter(server=server).count() == 3


def test_a_bigger_public_block_when_asked(server):
    got = services.server_addresses_assign(server=server, public_ipv4_prefix=29)
    assert got[0].network == "147.75.0.0/29" and got[0].gateway == "147.75.0.1" and got[0].address == "147.75.0.2"


def test_all_or_nothing_when_a_pool_is_missing(facility, pool4, private_pool):
    server = ServerFactory(facility=facility)
    with pytest.raises(services.SpaceExhausted) as exc:
        services.server_addresses_assign(server=server)
    assert "no public IPv6 pool for facility da11" in " ".join(exc.value.messages)
    assert not Block.objects.filter(kind=Kind.ASSIGNMENT).exists()


def test_falls_back_to_the_metro_pools(facility, other_facility, metro, supernet4, private_supernet, supernet6):
    services.block_create(network="147.75.64.0/24", kind=Kind.POOL, parent=supernet4, metro=metro)
    services.block_create(network="10.64.0.0/16", kind=Kind.POOL, parent=private_supernet, metro=metro)
    services.block_create(network="2604:1380:4000::/40", kind=Kind.POOL, parent=supernet6, metro=metro)
    got = services.server_addresses_assign(server=ServerFactory(facility=other_facility))
    assert [a.network for a in got] == ["147.75.64.0/31", "10.64.0.0/31", "2604:1380:4000::/127"]


def test_release_closes_history_and_frees_the_space(server):
    got = services.server_addresses_assign(server=server, device_label="web-1")
    assert services.server_addresses_release(server=server, reason="deprovisioned") == 3
    assert selectors.server_addresses(server) == []
    assert all(a.released_at is not None for a in Assignment.objects.filter(pk__in=[a.pk for a in got]))
    other = ServerFactory(facility=server.facility)
    assert [a.network for a in services.server_addresses_assign(server=other)] == [a.network for a in got]
    assert services.server_addresses_release(server=server) == 0
