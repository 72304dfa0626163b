"""`port_configure_for_server`: the desired state of a server's cabled ports from hardware + IPAM,
pushed to the lab switch — what the installs workflow calls."""
from __future__ import annotations

import pytest

from apps.hardware.models import ServerState
from apps.hardware.services import server_transition
from apps.ipam import services as ipam
from apps.network import services
from apps.network.models import ConfigPush, PortConfig, PortMode
from tests.hardware.factories import CableFactory, NetworkInterfaceFactory, ServerFactory, SwitchFactory, SwitchPortFactory
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def cabled(lab_switch, facility, pool4, private_pool, pool6, settings):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    switch = SwitchFactory(hostname=lab_switch.hostname, facility=facility, mgmt_host="127.0.0.1", mgmt_port=lab_switch.port,
                           username=lab_switch.username, password=lab_switch.password, host_key_fingerprint=lab_switch.fingerprint)
    server = ServerFactory(facility=facility, serial="DA11-R01-05", state=ServerState.READY)
    for nic, port in (("eth0", "xe-0/0/5"), ("eth1", "xe-0/0/6")):
        CableFactory(interface=NetworkInterfaceFactory(server=server, name=nic), port=SwitchPortFactory(switch=switch, name=port))
    return server


def lines(lab_switch, name):
    return [line for line in lab_switch.running_lines() if line.startswith(f"set interfaces {name} ")]


def test_allocated_server_with_addresses_gets_its_gateways_on_the_first_nic(cabled, lab_switch, django_capture_on_commit_callbacks):
    server_transition(server=cabled, to=ServerState.ALLOCATED, reason="device d-9")
    ipam.server_addresses_assign(server=cabled, device_label="web-1")

    with django_capture_on_commit_callbacks(execute=True):
        change = services.port_configure_for_server(server=cabled, reason="provisioning device d-9")

    assert change.changed and len(change.switch_ids) == 1
    assert services.port_change_wait(change, timeout=5).done
    assert lines(lab_switch, "xe-0/0/5") == [
        'set interfaces xe-0/0/5 description "metalyard DA11-R01-05 eth0 provisioned"',
        "set interfaces xe-0/0/5 mtu 9216",
        "set interfaces xe-0/0/5 unit 0 family inet address 147.75.0.0/31",
        "set interfaces xe-0/0/5 unit 0 family inet address 10.11.0.0/31",
        "set interfaces xe-0/0/5 unit 0 family inet6 address 2604:1380:1000::/127",
    ]
    # One routed link per server: the second NIC stays dark.
    assert lines(lab_switch, "xe-0/0/6")[-1] == "set interfaces xe-0/0/6 disable"
    assert ConfigPush.objects.get().ports == ["xe-0/0/5", "xe-0/0/6"]


def test_released_server_goes_back_to_isolated(cabled, lab_switch, django_capture_on_commit_callbacks):
    server_transition(server=cabled, to=ServerState.ALLOCATED)
    ipam.server_addresses_assign(server=cabled)
    with django_capture_on_commit_callbacks(execute=True):
        services.port_configure_for_server(server=cabled, reason="provision")
    ipam.server_addresses_release(server=cabled)
    server_transition(server=cabled, to=ServerState.READY)

    with django_capture_on_commit_callbacks(execute=True):
        services.port_configure_for_server(server=cabled, reason="deprovisioned")

    assert PortConfig.objects.get(port__name="xe-0/0/5").mode == PortMode.ISOLATED
    assert lines(lab_switch, "xe-0/0/5") == ['set interfaces xe-0/0/5 description "metalyard DA11-R01-05 eth0 isolated (ready)"',
                                             "set interfaces xe-0/0/5 disable"]
    assert "-   mtu 9216;" in ConfigPush.objects.first().diff


def test_allocated_server_without_addresses_stays_isolated(cabled):
    server_transition(server=cabled, to=ServerState.ALLOCATED)
    plan = services.server_port_plan(cabled)
    assert [spec["mode"] for _, spec in plan] == [PortMode.ISOLATED, PortMode.ISOLATED]
    assert plan[0][1]["description"] == "metalyard DA11-R01-05 eth0 isolated (allocated)"
