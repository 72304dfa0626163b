"""Demo IP space: the provider's supernets and, for every demo facility, a public IPv4, a private
IPv4 and a public IPv6 pool; plus one elastic reservation for two demo projects. Idempotent."""
from __future__ import annotations

from typing import Any

from apps.accounts.models import Project
from apps.facilities.models import Facility
from apps.ipam import services
from apps.ipam.models import Block, Kind

SUPERNETS = ["147.75.0.0/16", "10.0.0.0/8", "2604:1380::/32"]


def _pools_for(index: int) -> list[tuple[str, str]]:
    """The pools of the index-th facility (in code order): a /21 public, a /16 private, a /40 IPv6."""
    return [
        ("147.75.0.0/16", f"147.75.{index * 8}.0/21"),
        ("10.0.0.0/8", f"10.{index + 1}.0.0/16"),
        ("2604:1380::/32", f"2604:1380:{0x4000 + index * 0x100:x}::/40"),
    ]


def seed(*, out: Any, context: dict[str, Any]) -> str:
    facilities = list(Facility.objects.order_by("code"))
    if not facilities:
        return "no facilities, no IP space"
    roots = {}
    for network in SUPERNETS:
        roots[network] = (Block.objects.active().filter(network=network, kind=Kind.SUPERNET).first()
                          or services.block_create(network=network, kind=Kind.SUPERNET, description="demo"))
    for index, facility in enumerate(facilities[:32]):
        for root, network in _pools_for(index):
            if not Block.objects.active().filter(network=network).exists():
                services.block_create(network=network, kind=Kind.POOL, parent=roots[root], facility=facility,
                                      description=f"{facility.code} pool")
    first = facilities[0]
    for slug, name, family, length in [("acme", "production", 4, 29), ("globex", "hpc-cluster", 6, 56)]:
        project = Project.objects.filter(organization__slug=slug, name=name).first()
        if project is not None and not Block.objects.active().filter(project=project, kind=Kind.RESERVATION).exists():
            services.reservation_create(project=project, family=family, prefix_length=length, facility=first,
                                        description="demo elastic block")
    return f"{len(SUPERNETS)} supernets, {Block.objects.active().filter(kind=Kind.POOL).count()} pools"
