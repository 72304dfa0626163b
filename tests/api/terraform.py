"""A replay of the HTTP calls the Terraform provider (equinix/terraform-provider-equinix, the last tree with
Metal resources, 31781d0a) makes, with the client-side rules of the two SDKs it is built on:

- packngo (v0.31): path ids must match its ValidateUUID regex *before* a request is sent; list calls
  follow `meta.next.href`; bodies are its structs' JSON (e.g. an IP reservation's description is `details`);
- metal-go (the generated Go SDK): responses decode into the specification's types — here the same
  specification's generated Python models (`equinix-metal`), which are as strict.

Each call is made over HTTP (a Django test client or a live server) exactly as the provider sends it."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

UUID = re.compile("^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")  # packngo utils.go


class ProviderError(Exception):
    pass


def validate_uuid(value: str) -> str:
    """packngo's ValidateUUID: the provider fails before sending anything when an id is not a UUID."""
    if not UUID.match(str(value)):
        raise ProviderError(f"{value} is not a valid UUID")
    return value


class Transport:
    """One HTTP call: (method, path with query, JSON body) → (status, JSON or None)."""

    def __init__(self, send: Callable[[str, str, Any], tuple[int, Any]]) -> None:
        self.send = send
        self.log: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
                 ok: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        url = f"/metal/v1/{path.lstrip('/')}" + (f"?{urlencode(query)}" if query else "")
        status, data = self.send(method, url, body)
        self.log.append((method, url))
        if status not in ok:
            raise ProviderError(f"{method} {url}: {status} {data}")
        return data

    def list_all(self, path: str, key: str, *, query: dict[str, str] | None = None) -> list[Any]:
        """packngo's list: follow meta.next.href until there is none (bounded)."""
        items: list[Any] = []
        data = self("GET", path, query=query)
        for _ in range(1000):
            items += data[key]
            nxt = (data.get("meta") or {}).get("next")
            if not nxt or not nxt.get("href"):
                return items
            status, data = self.send("GET", nxt["href"], None)
            self.log.append(("GET", nxt["href"]))
            assert status == 200, data
        raise ProviderError("more than 1000 pages")


def django_transport(client: Any) -> Transport:
    def send(method: str, url: str, body: Any) -> tuple[int, Any]:
        response = getattr(client, method.lower())(url, body, format="json") if body is not None else getattr(client, method.lower())(url)
        return response.status_code, (response.json() if response.content else None)
    return Transport(send)


def requests_transport(base_url: str, token: str) -> Transport:
    import requests

    session = requests.Session()
    session.headers.update({"X-Auth-Token": token, "Content-Type": "application/json"})

    def send(method: str, url: str, body: Any) -> tuple[int, Any]:
        response = session.request(method, f"{base_url}{url}", json=body, timeout=30)
        return response.status_code, (response.json() if response.content else None)
    return Transport(send)


def decode(model: str, data: Any) -> Any:
    """Decode as metal-go does: into the specification's strict types (raises on any mismatch)."""
    import equinix_metal

    return getattr(equinix_metal, model).from_dict(data)


def base(href: str) -> str:
    """Go's path.Base, which the provider uses to read ids out of hrefs."""
    return href.rstrip("/").rsplit("/", 1)[-1]
