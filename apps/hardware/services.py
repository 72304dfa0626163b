"""Every write to the hardware inventory: servers and their state, NICs, BMCs, switches, ports and cables.

CSV onboarding lives in apps.hardware.onboarding and commissioning in apps.hardware.commissioning;
both end up in the same models and the same audit log.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from apps.audit.services import audit_record, diff, snapshot
from apps.facilities.models import Facility, Rack
from apps.hardware.models import (
    BMC,
    BMC_DEFAULT_PORT,
    Cable,
    CommissioningFinding,
    FindingStatus,
    NetworkInterface,
    Plan,
    Server,
    ServerState,
    Switch,
    SwitchPort,
)
from project.holds import holds_of
from project.states import StateConflict, transition


class OpenFindings(StateConflict):
    """A server with open commissioning findings may not enter `ready` (the API answers 409)."""

    api_status = 409

    def __init__(self, server: Server, messages: list[str]) -> None:
        self.server, self.messages = server, messages
        listed = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
        super().__init__(f"Server {server.serial} has {len(messages)} open commissioning finding(s) and cannot become ready: {listed}. "
                         "Fix the hardware or the records and re-commission, or waive the findings in the admin.")


class ServerHeld(StateConflict):
    """A server that a customer's device or addresses still hold may not go back to the pool, and
    staff may not take it out of service from under its device (the API answers 409)."""

    def __init__(self, server: Server, to: str, holds: list[str], hint: str) -> None:
        self.server, self.holds = server, holds
        super().__init__(f"Server {server.serial} cannot go to '{to}': {'; '.join(holds)}. {hint}")


# A server's holders (project.holds): "device" — a customer's live device (installs); "addresses" —
# active address assignments (ipam). A server goes back to the pool only when nothing holds it.
HOLD_DEVICE, HOLD_ADDRESSES = "device", "addresses"
# Out of service from under a live device only through the service that moves the device too.
OUT_OF_SERVICE_MOVES = frozenset({ServerState.MAINTENANCE, ServerState.FAILED})


def _lock_rack(rack: Rack | None) -> None:
    # Serialises placements within one rack so that the clean() overlap check and the write
    # see the same picture; RackUnit's unique constraint is the backstop.
    if rack is not None:
        Rack.objects.select_for_update().filter(pk=rack.pk).first()


def _save_checked(obj: models.Model) -> None:
    obj.full_clean()
    obj.save()


# ---------------------------------------------------------------------------------------------- state


def server_transition(*, server: Server, to: str, actor: Any = None, reason: str = "", device_moved: bool = False) -> Server:
    """Move a server to state `to` (locked, checked against Server.TRANSITIONS, audited).

    Raises project.states.IllegalTransition for a move the table forbids; OpenFindings when a server
    with open commissioning findings is asked to become `ready`; ServerHeld when a server that a live
    device or address assignments still hold is asked to become `ready`, or when a server holding a
    live device is taken to maintenance or failed by a caller that did not move the device
    (`device_moved`: the installs app's coupled services, which do)."""
    with transaction.atomic():
        # transition() locks the row itself; the guarded moves read it first (under the lock).
        guarded = to == ServerState.READY or (to in OUT_OF_SERVICE_MOVES and not device_moved)
        locked = Server.objects.select_for_update().get(pk=server.pk) if guarded else server
        if guarded and to in Server.TRANSITIONS.get(locked.state, frozenset()):
            if to == ServerState.READY:
                holds = holds_of("server", locked)
                if holds:
                    raise ServerHeld(locked, to, holds, "Delete the device (or release the addresses) first.")
                open_messages = list(CommissioningFinding.objects.filter(server=locked, status=FindingStatus.OPEN)
                                     .order_by("id").values_list("message", flat=True))
                if open_messages:
                    raise OpenFindings(locked, open_messages)
            else:
                holds = holds_of("server", locked, kinds=frozenset({HOLD_DEVICE}))
                if holds:
                    raise ServerHeld(locked, to, holds, "Use the server's Maintenance action, which moves the device "
                                                        "with it and tells its owner.")
        transition(server, to, actor=actor, reason=reason, extra={"state_reason": reason})
    return server


def servers_transition(*, servers: list[Server], to: str, actor: Any = None, reason: str = "") -> tuple[list[Server], dict[str, str]]:
    """Move many servers (admin bulk actions); each one on its own so one refusal does not block the rest.
    Returns (moved, {serial: why not})."""
    moved: list[Server] = []
    refused: dict[str, str] = {}
    for server in servers:
        try:
            moved.append(server_transition(server=server, to=to, actor=actor, reason=reason))
        except (StateConflict, ValidationError) as exc:
            refused[server.serial] = str(exc)
    return moved, refused


def server_commissioning_check(*, server: Server, report: dict[str, Any], actor: Any = None) -> list[CommissioningFinding]:
    """Check a discovery report against the server's plan and cabling (see apps.hardware.commissioning)."""
    from apps.hardware.commissioning import commissioning_check

    return commissioning_check(server=server, report=report, actor=actor)


# ---------------------------------------------------------------------------------------------- servers


@transaction.atomic
def server_create(*, serial: str, plan: Plan, facility: Facility, rack: Rack | None = None, position_u: int | None = None,
                  height_u: int | None = None, asset_tag: str = "", actor: Any = None) -> Server:
    """Register a server (state `new`). It enters the pool through commissioning."""
    _lock_rack(rack)
    server = Server(serial=serial, asset_tag=asset_tag, plan=plan, facility=facility, rack=rack, position_u=position_u,
                    height_u=height_u or plan.height_u)
    _save_checked(server)
    audit_record(action="hardware.server.create", target=server, changes=diff({}, snapshot(server)), actor=actor)
    return server


UPDATABLE_SERVER_FIELDS = frozenset({"serial", "asset_tag", "plan", "facility", "rack", "position_u", "height_u"})


@transaction.atomic
def server_update(*, server: Server, actor: Any = None, **fields: Any) -> Server:
    """Change a server's records (not its state: that is server_transition)."""
    unknown = set(fields) - UPDATABLE_SERVER_FIELDS
    if unknown:
        raise ValueError(f"server_update cannot change {', '.join(sorted(unknown))}")
    _lock_rack(fields.get("rack", server.rack))
    # The stored row, locked: the admin changes `server` from its form before calling here.
    before = snapshot(Server.objects.select_for_update().get(pk=server.pk))
    for name, value in fields.items():
        setattr(server, name, value)
    _save_checked(server)
    changes = diff(before, snapshot(server))
    if changes:
        audit_record(action="hardware.server.update", target=server, changes=changes, actor=actor)
    return server


DELETABLE_STATES = frozenset({ServerState.NEW, ServerState.MAINTENANCE, ServerState.FAILED})


@transaction.atomic
def server_delete(*, server: Server, actor: Any = None) -> None:
    """Remove a server from the inventory (with its NICs, cables, BMC and rack units)."""
    if server.state not in DELETABLE_STATES:
        raise ValidationError(f"Server {server.serial} is {server.state}; only new, maintenance or failed servers can be removed. "
                              "Move it to maintenance first.")
    audit_record(action="hardware.server.delete", target=server, changes=diff(snapshot(server), {}), actor=actor)
    server.delete()


# ---------------------------------------------------------------------------------------------- NICs, BMCs


@transaction.atomic
def interface_create(*, server: Server, name: str, mac: str, speed_mbps: int = 10000, actor: Any = None) -> NetworkInterface:
    nic = NetworkInterface(server=server, name=name, mac=mac, speed_mbps=speed_mbps)
    _save_checked(nic)
    audit_record(action="hardware.interface.create", target=nic, changes=diff({}, snapshot(nic)), actor=actor)
    return nic


@transaction.atomic
def bmc_set(*, server: Server, protocol: str, host: str, username: str, password: str, port: int | None = None,
            cert_fingerprint: str = "", actor: Any = None) -> BMC:
    """Create or replace the BMC record of a server (the password is encrypted at rest, never audited)."""
    bmc = BMC.objects.filter(server=server).first()
    before = snapshot(bmc) if bmc else {}
    bmc = bmc or BMC(server=server)
    bmc.protocol, bmc.host, bmc.username, bmc.password = protocol, host, username, password
    bmc.port = BMC_DEFAULT_PORT.get(protocol, 623) if port is None else port
    bmc.cert_fingerprint = cert_fingerprint.replace(":", "").lower()
    _save_checked(bmc)
    audit_record(action="hardware.bmc.set", target=server, changes=diff(before, snapshot(bmc)), actor=actor)
    return bmc


# ---------------------------------------------------------------------------------------------- switches and cables


@transaction.atomic
def switch_create(*, hostname: str, facility: Facility, mgmt_host: str, username: str, password: str, rack: Rack | None = None,
                  position_u: int | None = None, height_u: int = 1, model: str = "", os: str = "junos", mgmt_port: int = 830,
                  host_key_fingerprint: str = "", ports: list[str] | None = None, actor: Any = None) -> Switch:
    """Register a switch and (optionally) its ports by name."""
    _lock_rack(rack)
    switch = Switch(hostname=hostname, facility=facility, rack=rack, position_u=position_u, height_u=height_u, model=model, os=os,
                    mgmt_host=mgmt_host, mgmt_port=mgmt_port, username=username, password=password,
                    host_key_fingerprint=host_key_fingerprint)
    _save_checked(switch)
    if ports:
        port_objs = [SwitchPort(switch=switch, name=name) for name in ports]
        for port in port_objs:
            port.full_clean(exclude=["switch"], validate_unique=False)
        if len(set(ports)) != len(ports):
            raise ValidationError({"ports": "A port name appears twice."})
        SwitchPort.objects.bulk_create(port_objs)
    audit_record(action="hardware.switch.create", target=switch, changes={**diff({}, snapshot(switch)), "ports": [None, ports or []]},
                 actor=actor)
    return switch


@transaction.atomic
def switch_port_get_or_create(*, switch: Switch, name: str, actor: Any = None) -> SwitchPort:
    port = SwitchPort.objects.filter(switch=switch, name=name).first()
    if port is None:
        port = SwitchPort(switch=switch, name=name)
        _save_checked(port)
        audit_record(action="hardware.switchport.create", target=port, changes=diff({}, snapshot(port)), actor=actor)
    return port


@transaction.atomic
def cable_connect(*, interface: NetworkInterface, port: SwitchPort, actor: Any = None) -> Cable:
    """Record a cable from a server NIC to a switch port. Each end may be cabled once."""
    cable = Cable(interface=interface, port=port)
    _save_checked(cable)
    audit_record(action="hardware.cable.connect", target=cable, changes={"interface": [None, str(interface)], "port": [None, str(port)]},
                 actor=actor)
    return cable


@transaction.atomic
def cable_disconnect(*, cable: Cable, actor: Any = None) -> None:
    audit_record(action="hardware.cable.disconnect", target=cable, changes={"interface": [str(cable.interface), None],
                                                                            "port": [str(cable.port), None]}, actor=actor)
    cable.delete()
