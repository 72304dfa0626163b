"""A customer's device on a server cabled to a lab switch, with its links assigned from IPAM and its
routed port pushed: what the BGP and port tests start from (built with factories and the real services)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.accounts import services as accounts
from apps.hardware.models import ServerState
from apps.installs.models import DeviceState
from apps.ipam import services as ipam
from apps.network import services as network
from tests.hardware.factories import CableFactory, NetworkInterfaceFactory, ServerFactory, SwitchFactory, SwitchPortFactory
from tests.installs.factories import DeviceFactory


@dataclass
class Site:
    lab_switch: Any
    switch: Any
    project: Any
    owner: Any
    devices: list[Any]

    @property
    def device(self) -> Any:
        return self.devices[0]


def switch_for(lab_switch: Any, facility: Any) -> Any:
    return SwitchFactory(hostname=lab_switch.hostname, facility=facility, mgmt_host="127.0.0.1", mgmt_port=lab_switch.port,
                         username=lab_switch.username, password=lab_switch.password, host_key_fingerprint=lab_switch.fingerprint)


def active_device(*, switch: Any, project: Any, facility: Any, index: int, nics: int = 1) -> Any:
    """An active device on a server whose NIC(s) are cabled to xe-0/0/<10+index>…, holding its links."""
    server = ServerFactory(facility=facility, serial=f"DA11-BGP-{index:02d}", state=ServerState.ACTIVE)
    for nic in range(nics):
        CableFactory(interface=NetworkInterfaceFactory(server=server, name=f"eth{nic}"),
                     port=SwitchPortFactory(switch=switch, name=f"xe-0/0/{10 + 2 * index + nic}"))
    device = DeviceFactory(project=project, server=server, facility=facility, state=DeviceState.ACTIVE, hostname=f"cust-{index}")
    ipam.server_addresses_assign(server=server, project=project, device_id=device.pk, device_label=device.hostname)
    return device


def build(lab_switch: Any, facility: Any, owner: Any, *, devices: int = 1, nics: int = 1, capture: Any = None) -> Site:
    org = accounts.organization_create(name="Acme networks", slug=f"acme-net-{owner.pk}", owner=owner)
    project = accounts.project_create(organization=org, name="edge")
    switch = switch_for(lab_switch, facility)
    made = [active_device(switch=switch, project=project, facility=facility, index=i, nics=nics) for i in range(devices)]
    for device in made:
        if capture is not None:
            with capture(execute=True):
                network.port_configure_for_server(server=device.server, reason="provisioned")
        else:
            network.port_configure_for_server(server=device.server, reason="provisioned")
    return Site(lab_switch=lab_switch, switch=switch, project=project, owner=owner, devices=made)


def DeviceRef_for(device: Any) -> Any:  # noqa: N802 - reads as the type it builds
    from apps.network.devices import DeviceRef

    return DeviceRef(id=device.pk, project=device.project, server=device.server, hostname=device.hostname, state=device.state)
