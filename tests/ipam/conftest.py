"""IPAM fixtures: a metro and facility, and a small provider tree built through the services."""
from __future__ import annotations

import pytest

from apps.facilities.models import Facility, Metro
from apps.ipam import services
from apps.ipam.models import Kind


@pytest.fixture
def metro(db):
    return Metro.objects.create(code="da", name="Dallas", country="US")


@pytest.fixture
def facility(metro):
    return Facility.objects.create(code="da11", metro=metro, name="Dallas 11")


@pytest.fixture
def other_facility(metro):
    return Facility.objects.create(code="da12", metro=metro, name="Dallas 12")


@pytest.fixture
def supernet4(db):
    return services.block_create(network="147.75.0.0/16", kind=Kind.SUPERNET)


@pytest.fixture
def supernet6(db):
    return services.block_create(network="2604:1380::/32", kind=Kind.SUPERNET)


@pytest.fixture
def private_supernet(db):
    return services.block_create(network="10.0.0.0/8", kind=Kind.SUPERNET)


@pytest.fixture
def pool4(supernet4, facility):
    return services.block_create(network="147.75.0.0/24", kind=Kind.POOL, parent=supernet4, facility=facility)


@pytest.fixture
def pool6(supernet6, facility):
    return services.block_create(network="2604:1380:1000::/40", kind=Kind.POOL, parent=supernet6, facility=facility)


@pytest.fixture
def private_pool(private_supernet, facility):
    return services.block_create(network="10.11.0.0/16", kind=Kind.POOL, parent=private_supernet, facility=facility)
