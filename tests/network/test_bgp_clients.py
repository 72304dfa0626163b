"""Customer BGP through the real clients against a live Metalyard whose device sits on a lab switch:
packet-python 1.44.3's BGP calls and equinix-metal 0.11.0's strict models decode every object; another
tenant's objects are 404; bad input is 422 and changes nothing on the switch."""
from __future__ import annotations

import pytest
import requests

from apps.accounts import services as accounts
from apps.network.models import BgpConfig, ConfigPush
from tests.api.clients import metal_client, packet_manager
from tests.factories import UserFactory
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site

em = pytest.importorskip("equinix_metal")
pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]


@pytest.fixture
def site(lab_switch, facility, pool4, private_pool, pool6, settings, transactional_db):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    owner = UserFactory(email="bgp-owner@example.com")
    built = bgp_site.build(lab_switch, facility, owner)
    _, token = accounts.api_token_create(user=owner, description="bgp clients")
    built.token = token
    return built


def test_packet_python_bgp_calls(site, live_server, monkeypatch):
    manager = packet_manager(live_server.url, site.token, monkeypatch)
    project_id, device_id = str(site.project.pk), str(site.device.pk)
    assert manager.get_bgp_config(project_id).id is None  # no BGP yet: the empty structure

    manager.enable_project_bgp_config(project_id, asn=65000, deployment_type="local", md5="Secret12345")
    config = manager.get_bgp_config(project_id)
    assert (config.asn, config.deployment_type, config.status, config.md5, config.max_prefix) == (65000, "local", "enabled", "Secret12345", 10)

    session = manager.create_bgp_session(device_id, "ipv4")
    assert (session.address_family, session.status, session.device["href"]) == ("ipv4", "unknown", f"/metal/v1/devices/{device_id}")
    assert [s.id for s in manager.get_bgp_sessions(device_id)] == [session.id]
    assert manager.get_bgp_config(project_id).sessions[0]["id"] == session.id
    # The session reached the switch through the push path, before the API answered (tasks run synchronously here).
    assert "set protocols bgp group metalyard-xe-0-0-10-v4 neighbor 10.11.0.1" in site.lab_switch.running_lines()

    # The changes are in the device's and the project's events (from the audit log).
    headers = {"X-Auth-Token": site.token}
    device_events = requests.get(f"{live_server.url}/metal/v1/devices/{device_id}/events", headers=headers, timeout=30).json()["events"]
    project_events = requests.get(f"{live_server.url}/metal/v1/projects/{project_id}/events", headers=headers, timeout=30).json()["events"]
    assert any(e["type"] == "network.bgp_session.create" for e in device_events)
    assert {"network.bgp_config.request", "network.bgp_session.create"} <= {e["type"] for e in project_events}


def test_equinix_metal_models_decode_bgp_objects(site, live_server):
    client = metal_client(live_server.url, site.token)
    bgp_api, devices = em.BGPApi(client), em.DevicesApi(client)
    project_id, device_id = str(site.project.pk), str(site.device.pk)

    bgp_api.request_bgp_config(project_id, em.BgpConfigRequestInput(deployment_type="local", asn=65100))
    config = bgp_api.find_bgp_config_by_project(project_id)
    assert (config.asn, config.deployment_type, config.status, config.md5) == (65100, "local", "enabled", None)

    v4 = devices.create_bgp_session(device_id, em.BGPSessionInput(address_family="ipv4"))
    v6 = devices.create_bgp_session(device_id, em.BGPSessionInput(address_family="ipv6", default_route=True))
    listed = devices.find_bgp_sessions(device_id)
    assert [s.id for s in listed.bgp_sessions] == [v4.id, v6.id]
    assert bgp_api.find_bgp_session_by_id(v6.id).default_route is True
    assert [s.id for s in bgp_api.find_project_bgp_sessions(project_id).bgp_sessions] == [v4.id, v6.id]
    assert bgp_api.find_global_bgp_ranges(project_id).global_bgp_ranges == []

    neighbors = devices.get_bgp_neighbor_data(device_id).bgp_neighbors
    by_family = {n.address_family: n for n in neighbors}
    ipv4, ipv6 = by_family[4], by_family[6]
    assert (ipv4.customer_ip, ipv4.peer_ips, ipv4.customer_as, ipv4.peer_as, ipv4.md5_enabled) == ("10.11.0.1", ["10.11.0.0"], 65100, 65530, False)
    assert {r.route for r in ipv4.routes_in} == {"147.75.0.0/31", "10.11.0.0/31"} and all(r.exact for r in ipv4.routes_in)
    assert ipv6.peer_ips == ["2604:1380:1000::"] and [r.route for r in ipv6.routes_out] == ["::/0"]

    bgp_api.update_bgp_session(v6.id, False)
    assert bgp_api.find_bgp_session_by_id(v6.id).default_route is False
    bgp_api.delete_bgp_session(v4.id)
    assert [s.id for s in devices.find_bgp_sessions(device_id).bgp_sessions] == [v6.id]
    assert not [line for line in site.lab_switch.running_lines() if "metalyard-xe-0-0-10-v4" in line]


def test_bad_input_is_422_and_other_tenants_get_404(site, live_server):
    headers = {"X-Auth-Token": site.token}
    base = f"{live_server.url}/metal/v1"
    project_id, device_id = site.project.pk, site.device.pk
    pushes = ConfigPush.objects.count()

    refused = requests.post(f"{base}/projects/{project_id}/bgp-configs", json={"deployment_type": "local", "asn": 15169}, headers=headers, timeout=30)
    assert refused.status_code == 422 and "private ASN" in refused.json()["errors"][0]
    refused = requests.post(f"{base}/projects/{project_id}/bgp-configs", json={"deployment_type": "local", "asn": 4294967296}, headers=headers,
                            timeout=30)
    assert refused.status_code == 422
    no_bgp = requests.post(f"{base}/devices/{device_id}/bgp/sessions", json={"address_family": "ipv4"}, headers=headers, timeout=30)
    assert no_bgp.status_code == 422 and "has no BGP" in no_bgp.json()["errors"][0]
    assert not BgpConfig.objects.exists() and ConfigPush.objects.count() == pushes

    stranger = UserFactory(email="stranger@example.com")
    accounts.organization_create(name="Other", slug="other-net", owner=stranger)
    _, other_token = accounts.api_token_create(user=stranger, description="other")
    other = {"X-Auth-Token": other_token}
    requests.post(f"{base}/projects/{project_id}/bgp-configs", json={"deployment_type": "local", "asn": 65000}, headers=headers, timeout=30)
    session = requests.post(f"{base}/devices/{device_id}/bgp/sessions", json={"address_family": "ipv4"}, headers=headers, timeout=30).json()
    for url in (f"{base}/projects/{project_id}/bgp-config", f"{base}/devices/{device_id}/bgp/sessions", f"{base}/devices/{device_id}/bgp/neighbors",
                f"{base}/bgp/sessions/{session['id']}"):
        assert requests.get(url, headers=other, timeout=30).status_code == 404, url
    assert requests.delete(f"{base}/bgp/sessions/{session['id']}", headers=other, timeout=30).status_code == 404
    assert requests.post(f"{base}/devices/{device_id}/bgp/sessions", json={"address_family": "ipv6"}, headers=other, timeout=30).status_code == 404
