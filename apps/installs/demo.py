"""Demo operating systems: a small lab image per OS (served by the platform from its netboot assets
directory, with its real checksum), installable on every demo plan."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.installs.models import OperatingSystem

CATALOG = [
    ("ubuntu_24_04", "Ubuntu 24.04 LTS", "ubuntu", "24.04"),
    ("debian_12", "Debian 12", "debian", "12"),
    ("rocky_9", "Rocky Linux 9", "rocky", "9"),
]
IMAGE_BYTES = 1024 * 1024


def lab_image(slug: str, directory: Path) -> tuple[str, str, int]:
    """A deterministic 1 MiB stand-in for the OS image: (URL path, sha256, size)."""
    seed = hashlib.sha256(f"metalyard-lab-image-{slug}".encode()).digest()
    block = (seed * (4096 // len(seed)))
    data = (f"METALYARD LAB IMAGE {slug}\n".encode() + block * (IMAGE_BYTES // len(block)))[:IMAGE_BYTES]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug}.img"
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return f"/netboot/assets/{slug}.img", hashlib.sha256(data).hexdigest(), len(data)


# The lab's provisioning networks are in 127.0.0.0/8 (every address there is local on Linux): each
# emulated machine binds its source address to its NIC's reservation, so the platform's check of the
# caller's address runs in the demo as it does on a real provisioning VLAN.
LAB_PROVISIONING_SUPERNET = "127.100.0.0/14"


def lab_provisioning_networks(*, out: Any = None) -> int:
    """A /16 of LAB_PROVISIONING_SUPERNET per facility (by id order), and an address for every NIC."""
    import netaddr

    from apps.facilities.models import Facility
    from apps.installs.models import ProvisioningNetwork
    from apps.installs.provisioning import provisioning_network_set, provisioning_reserve

    subnets = netaddr.IPNetwork(LAB_PROVISIONING_SUPERNET).subnet(16)
    for facility in Facility.objects.order_by("pk"):
        subnet = next(subnets, None)
        if subnet is None:
            break
        if not ProvisioningNetwork.objects.filter(facility=facility).exists():
            provisioning_network_set(facility=facility, network=str(subnet))
    return provisioning_reserve()


def seed(*, out: Any, context: dict[str, Any]) -> str:
    from apps.hardware.models import Plan

    plans = list(Plan.objects.all())
    for slug, name, distro, version in CATALOG:
        url, digest, size = lab_image(slug, Path(settings.NETBOOT_ASSETS_DIR))
        os_, _ = OperatingSystem.objects.update_or_create(
            slug=slug, defaults={"name": name, "distro": distro, "version": version, "image_url": url,
                                 "image_sha256": digest, "image_size": size})
        os_.plans.add(*plans)
    reserved = lab_provisioning_networks()
    return f"{len(CATALOG)} operating systems on {len(plans)} plans; {reserved} NICs given a provisioning address"
