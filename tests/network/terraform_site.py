"""The site the Terraform replays of customer networking start from: two-NIC devices of one project on a lab
switch, and a Transport that sends each call through Django's test client with the request's after-commit
work (the switch pushes, the VLAN batches) run before the provider's next call, as on a live server."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from tests.api.terraform import Transport
from tests.factories import UserFactory
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site


@pytest.fixture
def site(lab_switch, facility, pool4, private_pool, pool6, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    owner = UserFactory(email="tf-net@example.com")
    built = bgp_site.build(lab_switch, facility, owner, nics=2, capture=django_capture_on_commit_callbacks)
    _, token = accounts.api_token_create(user=owner, description="terraform")
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=token)

    def send(method: str, url: str, body):  # noqa: ANN001, ANN202 - the Transport's callable
        # Each request's after-commit work (the switch pushes) runs before the provider's next call, as on a live server.
        with django_capture_on_commit_callbacks(execute=True):
            call = getattr(client, method.lower())
            response = call(url, body, format="json") if body is not None else call(url)
        return response.status_code, (response.json() if response.content else None)

    built.tf = Transport(send)
    return built


def lines_of(lab_switch, needle: str) -> list[str]:  # noqa: ANN001
    return [line for line in lab_switch.running_lines() if needle in line]
