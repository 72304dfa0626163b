"""The real Equinix Metal clients pointed at a live Metalyard: packet-python 1.44.3 and the generated
`equinix-metal` 0.11.0 SDK (strict pydantic models built from the specification)."""
from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any

import requests

from apps.accounts import services as accounts
from apps.accounts.models import Role
from tests.factories import UserFactory


def customer(*, with_organization: bool = True) -> tuple[Any, str]:
    """A user (owner of an organization, or of nothing) and a read-write API token of theirs."""
    user = UserFactory(email="owner@example.com")
    if with_organization:
        accounts.organization_create(name="Acme", slug=f"acme-{user.pk}", owner=user)
    _, plaintext = accounts.api_token_create(user=user, description="client tests")
    return user, plaintext


def packet_manager(base_url: str, token: str, monkeypatch: Any) -> Any:
    """packet-python always builds https://…; the live server speaks plain HTTP on loopback, so its
    `requests` calls get the same URL with the scheme changed (and a timeout). Nothing else changes."""
    import packet
    import packet.baseapi as baseapi

    host = base_url.split("://", 1)[1]

    def plain(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(url: str, **kwargs: Any) -> Any:
            return method(url.replace("https://", "http://", 1), timeout=30, **kwargs)
        return call

    monkeypatch.setattr(baseapi, "requests", types.SimpleNamespace(get=plain(requests.get), post=plain(requests.post), delete=plain(requests.delete),
                                             patch=plain(requests.patch), put=plain(requests.put), exceptions=requests.exceptions,
                                             utils=requests.utils, HTTPError=requests.HTTPError))
    manager = packet.Manager(auth_token=token)
    manager.end_point = f"{host}/metal/v1"
    return manager


def metal_client(base_url: str, token: str) -> Any:
    import equinix_metal

    configuration = equinix_metal.Configuration(host=f"{base_url}/metal/v1")
    configuration.api_key["x_auth_token"] = token
    return equinix_metal.ApiClient(configuration)


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = read()
    assert done(value), f"still {value!r} after {timeout} s"
    return value


__all__ = ["Role", "customer", "metal_client", "packet_manager", "wait_until"]
