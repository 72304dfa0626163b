"""The action registry: every action a customer or staff member can take on a device or a server,
declared once — its label, the states it is allowed in, the permission it needs and the service it
calls. Every face renders from it and runs it through `perform()`:

- the API: the `type` choices of POST /devices/{id}/actions (`api_action_names()`);
- the portal: the buttons on a device's page (`available()`);
- the admin: the actions on devices and servers (`apps.installs.admin`);
- the docs: the table in docs/architecture.md (`markdown_table()`).

A staff action and a customer action of the same name are one action: staff run it on a server and,
when that server holds a customer's live device, it runs on the device (its state machine moves and
the customer sees a record on the device), so the two machines never disagree. Customers need the
project role `permission`; staff need the Django permission `staff_permission`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts.models import APIToken
from apps.accounts.permissions import refusal_message
from apps.accounts.selectors import WRITE, can
from apps.audit.services import audit_record
from apps.hardware.models import Server, ServerState
from apps.hardware.power import server_power_request
from apps.hardware.power_models import PowerAction
from apps.installs.models import Device, DeviceState, OperatingSystem
from apps.installs.services import coupling, orders, power, rescue
from project.states import StateConflict


def _states_leading_to(table: Any, target: str) -> frozenset[str]:
    """The states from which a transition table allows `target` (so that an action's states are read
    from the machine's own table, never written out a second time)."""
    return frozenset(state for state, targets in table.items() if target in targets)


ALL_SERVER_STATES = frozenset(ServerState.values)
LIVE_DEVICE_STATES = frozenset(DeviceState.values) - {DeviceState.DELETED}
# A server that no customer holds: staff may power it any way they like.
FREE_SERVER_STATES = frozenset({ServerState.NEW, ServerState.READY, ServerState.MAINTENANCE, ServerState.FAILED})


@dataclass(frozen=True)
class PowerPath:
    """How a power action moves a customer's device: the BMC call, the state the device passes through while
    it runs (None: it stays where it is), where it lands when the call worked and where it goes back to when not."""

    bmc_action: str
    passing: str | None
    landing: str
    on_failure: str


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    service: Callable[..., Any]
    device_states: frozenset[str]
    server_states: frozenset[str] = frozenset()
    permission: str | None = WRITE
    staff_permission: str = "installs.change_device"
    in_api: bool = True
    needs_server: bool = True
    confirm: str = ""
    description: str = ""
    params: tuple[str, ...] = field(default=())
    power: PowerPath | None = None

    @property
    def for_customers(self) -> bool:
        return self.permission is not None


# ---------------------------------------------------------------------------------------------- services


def _power(*, device: Device | None, server: Server, actor: Any, reason: str, name: str, staff: bool, **_: Any) -> None:
    path = ACTIONS[name].power
    assert path is not None, f"{name} is declared without its power path"
    if device is None:
        server_power_request(server=server, action=path.bmc_action, actor=actor, source="admin")
        return
    if device.state == DeviceState.RESCUE:
        rescue.device_rescue_exit(device=device, actor=actor, reason=reason)  # a reboot leaves rescue: from the disk
    else:
        power.device_power(device=device, action=name, bmc_action=path.bmc_action, passing=path.passing,
                           allowed=ACTIONS[name].device_states - {DeviceState.RESCUE}, actor=actor)
    if staff:
        _tell_the_customer(device, name, actor, reason)


def device_power_settle(*, device_id: Any, name: str, actor: Any = None) -> Device:
    """The worker's half of a customer power action (apps.installs.tasks.device_power_apply): the BMC call and
    the device's landing state, both as the registry declares them."""
    path = get(name).power
    if path is None:
        raise ValidationError({"type": f"{name} is not a power action."})
    return power.device_power_apply(device_id=device_id, action=name, bmc_action=path.bmc_action, passing=path.passing,
                                    landing=path.landing, on_failure=path.on_failure, actor=actor)


def _next_boot_network(*, device: Device | None, server: Server, actor: Any, reason: str, staff: bool, **_: Any) -> None:
    server_power_request(server=server, action=PowerAction.BOOT_NETWORK, actor=actor, source="admin")
    if device is not None and staff:
        _tell_the_customer(device, "boot_network", actor, reason)


def _maintenance(*, server: Server, actor: Any, reason: str, **_: Any) -> None:
    coupling.server_maintenance(server=server, actor=actor, reason=reason)


def _commission(*, server: Server, actor: Any, **_: Any) -> None:
    orders.server_commission(server=server, actor=actor)


def _tell_the_customer(device: Device, name: str, actor: Any, reason: str) -> None:
    """A staff action on a customer's device leaves a record on the device (the customer's history)."""
    audit_record(action=f"installs.device.staff.{name}", target=device, actor=actor,
                 reason=reason or f"{ACTIONS[name].label} by the operator")


def _reinstall(*, device: Device | None, actor: Any, reason: str, operating_system: str | None = None, staff: bool,
               preserve_data: bool = False, deprovision_fast: bool = False, ipxe_script_url: str = "", **_: Any) -> None:
    assert device is not None
    os_ = None
    if operating_system:
        os_ = OperatingSystem.objects.filter(slug=operating_system).first()
        if os_ is None:
            raise ValidationError({"operating_system": f"No operating system '{operating_system}'."})
    orders.device_reinstall(device=device, operating_system=os_, actor=actor, reason=reason, preserve_data=bool(preserve_data),
                            deprovision_fast=bool(deprovision_fast), ipxe_script_url=ipxe_script_url or None)
    if staff:
        _tell_the_customer(device, "reinstall", actor, reason)


def _rescue(*, device: Device | None, actor: Any, reason: str, staff: bool, **_: Any) -> None:
    assert device is not None
    rescue.device_rescue(device=device, actor=actor, reason=reason)
    if staff:
        _tell_the_customer(device, "rescue", actor, reason)


def _delete(*, device: Device | None, actor: Any, reason: str, staff: bool, **_: Any) -> None:
    assert device is not None
    orders.device_delete(device=device, actor=actor, reason=reason)
    if staff:
        _tell_the_customer(device, "delete", actor, reason)


# ---------------------------------------------------------------------------------------------- the registry

_DEVICE = Device.TRANSITIONS
ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action(name="power_on", label="Power on", service=_power,
           power=PowerPath(PowerAction.ON, passing=DeviceState.POWERING_ON, landing=DeviceState.ACTIVE, on_failure=DeviceState.INACTIVE),
           device_states=_states_leading_to(_DEVICE, DeviceState.POWERING_ON), server_states=FREE_SERVER_STATES,
           staff_permission="hardware.change_server",
           description="Power the machine on; the device goes inactive → powering_on → active."),
    Action(name="power_off", label="Power off", service=_power,
           power=PowerPath(PowerAction.OFF, passing=DeviceState.POWERING_OFF, landing=DeviceState.INACTIVE, on_failure=DeviceState.ACTIVE),
           device_states=_states_leading_to(_DEVICE, DeviceState.POWERING_OFF), server_states=FREE_SERVER_STATES,
           staff_permission="hardware.change_server", confirm="Power {name} off? Its operating system is not shut down first.",
           description="Hard power-off; the device goes active → powering_off → inactive."),
    Action(name="reboot", label="Reboot", service=_power,
           power=PowerPath(PowerAction.CYCLE, passing=None, landing=DeviceState.ACTIVE, on_failure=DeviceState.ACTIVE),
           device_states=frozenset({DeviceState.ACTIVE}) | _states_leading_to(_DEVICE, DeviceState.ACTIVE) & {DeviceState.RESCUE},
           server_states=FREE_SERVER_STATES, staff_permission="hardware.change_server",
           description="Power cycle; the device stays active. From rescue: boot from the disk again (active)."),
    Action(name="boot_network", label="Next boot: network (PXE)", service=_next_boot_network, permission=None, in_api=False,
           device_states=LIVE_DEVICE_STATES, server_states=ALL_SERVER_STATES,
           staff_permission="hardware.change_server",
           description="Staff only: the server boots from the network the next time it starts."),
    Action(name="maintenance", label="Put in maintenance", service=_maintenance, permission=None, in_api=False,
           device_states=LIVE_DEVICE_STATES, server_states=_states_leading_to(Server.TRANSITIONS, ServerState.MAINTENANCE),
           staff_permission="hardware.change_server",
           description="Staff only: take the server out of service; a customer's device on it moves with it "
                       "(its install is failed and cleaned up, or it goes failed) and its owner sees why."),
    Action(name="commission", label="Start commissioning", service=_commission, permission=None, in_api=False,
           device_states=frozenset(), server_states=_states_leading_to(Server.TRANSITIONS, ServerState.COMMISSIONING),
           staff_permission="hardware.change_server",
           description="Staff only: netboot the server into the discovery image; its inventory is checked "
                       "against its plan and cabling (a match makes it ready)."),
    Action(name="reinstall", label="Reinstall", service=_reinstall,
           device_states=_states_leading_to(_DEVICE, DeviceState.REINSTALLING),
           params=("operating_system", "preserve_data", "deprovision_fast", "ipxe_script_url"),
           confirm="Reinstall {name}? Its disks are overwritten.",
           description="Install the operating system again (optionally another one) on the same server and addresses; "
                       "preserve_data keeps the non-root partitions, deprovision_fast skips the full wipe."),
    Action(name="rescue", label="Rescue", service=_rescue,
           device_states=_states_leading_to(_DEVICE, DeviceState.RESCUE),
           confirm="Boot {name} into the rescue system? Its operating system stops; its disk is not touched.",
           description="Boot an in-memory rescue system with the device's SSH keys and addresses, on its serial console "
                       "too; the device is rescue until rebooted (from its disk)."),
    Action(name="delete", label="Delete", service=_delete, in_api=False, needs_server=False,
           device_states=_states_leading_to(_DEVICE, DeviceState.DEPROVISIONING),
           confirm="Delete {name}? Its disks are wiped.",
           description="Power off, wipe, isolate the port, release the addresses; the server returns to the pool "
                       "(the API's DELETE /devices/{id})."),
)}


def get(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        raise ValidationError({"type": f"Unknown action '{name}'. Use one of: {', '.join(api_action_names())}."}) from None


def api_action_names() -> list[str]:
    """The `type` values of POST /devices/{id}/actions."""
    return [a.name for a in ACTIONS.values() if a.in_api and a.for_customers]


def available(*, device: Device, user: Any, token: APIToken | None = None) -> list[Action]:
    """The customer actions this user may run on this device now (the portal's buttons)."""
    return [a for a in ACTIONS.values()
            if device.state in a.device_states and (device.server_id or not a.needs_server) and _customer_may(a, device, user, token)]


def _customer_may(action: Action, device: Device, user: Any, token: APIToken | None) -> bool:
    return action.permission is not None and can(user, device.project, action.permission, token=token)


def perform(name: str, *, device: Device | None = None, server: Server | None = None, actor: Any,
            user: Any = None, token: APIToken | None = None, staff: bool = False, reason: str = "", **params: Any) -> Action:
    """Run action `name` on a customer's device, or (staff) on a server and so on its live device.

    Checks the permission (customers: the project role; staff: the Django permission) and the state,
    then calls the action's service. Raises PermissionDenied (403), StateConflict (409) or
    ValidationError (422); returns the action that ran."""
    action = get(name)
    user = user if user is not None else actor
    unknown = set(params) - set(action.params)
    if unknown:
        raise ValidationError({k: f"{action.name} takes no '{k}'." for k in sorted(unknown)})
    if staff:
        if not (getattr(user, "is_staff", False) and user.has_perm(action.staff_permission)):
            raise PermissionDenied(f"{action.label} needs the '{action.staff_permission}' permission.")
        if device is None:
            assert server is not None, "a staff action names a server or a device"
            device = coupling.server_live_device(server)
    else:
        assert device is not None, "a customer action names a device"
        if action.permission is None:
            raise PermissionDenied(f"{action.label} is an operator action.")
        if not can(user, device.project, action.permission, token=token):
            raise PermissionDenied(refusal_message(device.project, action.permission, token))
    if device is not None:
        if not action.device_states:
            raise StateConflict(f"{action.label} needs a server that no device holds; {device.server} holds {device.hostname}.")
        if device.state not in action.device_states:
            allowed = " or ".join(sorted(action.device_states))
            raise StateConflict(f"{device.hostname} is {device.state}; {action.label.lower()} needs it {allowed}.")
        server = device.server
    elif server is None or server.state not in action.server_states:
        raise StateConflict(f"{action.label} is not possible on server {server} in state {getattr(server, 'state', '?')}.")
    default_reason = f"{action.label.lower()} {'by staff' if staff else 'requested'}"
    action.service(device=device, server=server, actor=actor, reason=reason or default_reason, name=action.name,
                   staff=staff, **params)
    return action


def markdown_table() -> str:
    """The registry as a Markdown table (docs/architecture.md carries it; a test keeps the two equal)."""
    lines = ["| action | label | device states | free server states (staff) | customer permission | staff permission | API type |",
             "|---|---|---|---|---|---|---|"]
    for a in ACTIONS.values():
        lines.append(f"| `{a.name}` | {a.label} | {', '.join(sorted(a.device_states)) or '—'} | "
                     f"{', '.join(sorted(a.server_states)) or '—'} | {a.permission or 'staff only'} | "
                     f"`{a.staff_permission}` | {'yes' if a.in_api and a.for_customers else 'no'} |")
    return "\n".join(lines)
