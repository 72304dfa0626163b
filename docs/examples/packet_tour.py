"""A tour of Metalyard's Equinix Metal API with the unchanged packet-python client (docs/api.md).

Usage: python docs/examples/packet_tour.py BASE_URL TOKEN   (e.g. http://127.0.0.1:8000 and an API token)

packet-python always speaks https to a fixed host; an existing script changes only two things:
the host (`manager.end_point`) and, for a plain-http development server, the scheme."""
from __future__ import annotations

import sys
import types

import packet
import packet.baseapi
import requests


def main(base_url: str, token: str) -> None:
    if base_url.startswith("http://"):  # a development server without TLS: same calls, plain http
        def plain(verb: str):  # noqa: ANN202
            return lambda url, **kw: requests.request(verb, url.replace("https://", "http://", 1), timeout=30, **kw)

        packet.baseapi.requests = types.SimpleNamespace(**{v: plain(v) for v in ("get", "post", "put", "patch", "delete")},
                                                        exceptions=requests.exceptions, utils=requests.utils)
    manager = packet.Manager(auth_token=token)
    manager.end_point = base_url.split("://", 1)[1].rstrip("/") + "/metal/v1"

    print("plans:", ", ".join(p.slug for p in manager.list_plans()))
    print("metros:", ", ".join(m.code for m in manager.list_metros()))
    project = manager.create_project("packet-tour")  # no organization given: the user's default one
    print("project:", project.id)
    key = manager.create_ssh_key("tour", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl tour\n")
    reservation = manager.reserve_ip_address(project.id, "public_ipv4", 4, metro="DA", details="tour", tags=["docs"])
    print("reserved:", f"{reservation.network}/{reservation.cidr}", reservation.tags)
    device = manager.create_device(project.id, "tour1", "c3.small.x86", metro="da", operating_system="ubuntu_24_04")
    print("device:", device.hostname, device.state, device.project["id"] == project.id)
    device.delete()
    manager.get_ip(reservation.id).delete()
    key.delete()
    print("events:", len(manager.list_project_events(project.id)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
