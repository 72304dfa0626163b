"""The platform steps of the install workflow (the table STEPS, named as in WORKFLOWS) and the
device calls they make: BMC power through the hardware app, switch ports through the network app,
addresses through IPAM. Each step is idempotent: run again, it finishes what was left half done."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.hardware.drivers import BmcError
from apps.hardware.models import CommissioningReport, Server
from apps.hardware.power import NoUsableBmc, bmc_serial_read, power_state_read, server_power_many
from apps.hardware.services import server_transition
from apps.installs.custom_ipxe import CustomIpxeError, script_fetch
from apps.installs.models import Device, DeviceState, Install, InstallKind, InstallState
from apps.installs.services.reservations import in_force, reserved_server_lock, unreserved
from apps.installs.services.runs import (
    INSTALLS_OS,
    InstallError,
    RetryLater,
    ServerFailed,
    install_event_add,
    step_move,
    step_timeout,
)
from apps.ipam.selectors import server_addresses
from apps.ipam.services import server_addresses_assign, server_addresses_release
from apps.network.services import port_change_wait, port_configure_for_server, switch_push
from project.states import transition


def _device_transition(device: Device | None, target: str, reason: str) -> None:
    if device is not None and device.state != target:
        transition(device, target, reason=reason)


def server_state_ensure(server: Any, target: str, reason: str, *, device_moved: bool = False) -> None:
    server.refresh_from_db(fields=["state"])
    if server.state != target:
        server_transition(server=server, to=target, actor=None, reason=reason, device_moved=device_moved)


def _step_pick_server(install: Install) -> None:
    device = install.device
    assert device is not None
    if install.server_id is not None:
        return
    with transaction.atomic():
        server = _reserved_server(device) if device.hardware_reservation_id else _unreserved_server(device)
        # Just read under its lock: no need to read its state again as server_state_ensure would.
        server_transition(server=server, to="allocated", actor=None, reason=f"picked for device {device.hostname} ({device.pk})")
        Device.objects.filter(pk=device.pk).update(server=server)
        Install.objects.filter(pk=install.pk).update(server=server)
        device.server = server
        install.server = server
        _device_transition(device, DeviceState.PROVISIONING, f"server {server.serial} picked")


def _unreserved_server(device: Device) -> Server:
    # of=("self",): lock only the server rows, never the facility rows a metro order joins.
    pool = Server.objects.select_for_update(skip_locked=True, of=("self",)).filter(plan_id=device.plan_id, state="ready")
    pool = pool.filter(facility_id=device.facility_id) if device.facility_id else pool.filter(facility__metro_id=device.metro_id)
    pool = unreserved(pool).order_by("facility_id", "rack_id", "position_u", "serial")
    for _ in range(10):
        server = pool.first()
        if server is None:
            break
        # A reservation made between this statement's snapshot and the lock: seen now (a new statement), and none
        # can be made any more while the lock is held (reserving locks the server too).
        if not in_force().filter(server=server).exists():
            return server
        pool = pool.exclude(pk=server.pk)
    where = device.facility.code if device.facility_id else f"metro {device.metro.code}"
    raise InstallError(f"no ready {device.plan.slug} server is left in {where}")


def _reserved_server(device: Device) -> Server:
    server = reserved_server_lock(device)
    if server is None:
        held = Server.objects.get(pk=device.hardware_reservation.server_id)
        raise InstallError(f"the reserved server {held.serial} is not ready (it is {held.state})")
    return server


def _step_addresses(install: Install) -> None:
    device, server = install.device, install.server
    assert device is not None and server is not None
    # Only this device's own addresses (a retried step) are taken as done; anyone else's are refused
    # by server_addresses_assign.
    if any(str(a.device_id) == str(device.pk) for a in server_addresses(server)):
        return
    server_addresses_assign(server=server, project=device.project, device_id=device.pk, device_label=device.hostname,
                            public_ipv4_prefix=device.public_ipv4_subnet_size, actor=None)


def _step_port(install: Install) -> None:
    install_port_apply(install, reason=f"{install.kind} {install.pk}")
    if install.kind in INSTALLS_OS:
        install_event_add(install=install, type="provisioning.102")


@contextmanager
def _device_wait(install: Install) -> Iterator[None]:
    """Add the time spent inside to the run's device_seconds (one UPDATE, outside any lock)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        Install.objects.filter(pk=install.pk).update(device_seconds=F("device_seconds") + (time.perf_counter() - started))


def install_port_apply(install: Install, *, reason: str) -> None:
    with _device_wait(install):
        _port_apply_waited(install, reason=reason)


def _port_apply_waited(install: Install, *, reason: str) -> None:
    """Set the server's port to its desired state (from the server's state and addresses) and see it
    applied, bounded by the port step's time limit. Pushes batch every pending port of a switch in
    one commit; asking for a push again is harmless (nothing pending: nothing done), and covers a
    change that arrived just as another worker's push finished its last round."""
    change = port_configure_for_server(server=install.server, actor=None, reason=reason, schedule=False)
    deadline = time.monotonic() + step_timeout("port")
    for _ in range(1000):
        for switch_id in change.switch_ids:
            switch_push(switch_id=switch_id)
        outcome = port_change_wait(change, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        if outcome.done:
            return
        if outcome.failed or time.monotonic() >= deadline:
            raise RetryLater(outcome.error or "the switch did not apply the port configuration")
    raise RetryLater("the switch did not apply the port configuration")


def install_power(install: Install, *actions: str) -> None:
    """Run BMC actions in order ("boot_network", "boot_disk", "on", "off"); the hardware app retries
    what may pass and records every call. A BMC that gave up is retried later; a refusal fails."""
    with _device_wait(install):
        _power_waited(install, *actions)


def _power_waited(install: Install, *actions: str) -> None:
    try:
        events = server_power_many(server=install.server, actions=actions, actor=None, source="install")
    except NoUsableBmc as exc:
        raise InstallError(str(exc)) from exc
    for action, event in zip(actions, events, strict=False):
        if event.outcome == "gave_up":
            raise RetryLater(event.message or f"BMC did not answer {action}")
        if event.outcome == "fatal":
            raise InstallError(f"BMC refused {action}: {event.message}")


def _step_netboot(install: Install) -> None:
    from apps.installs.provisioning import provisioning_reserve

    server = install.server
    # The machine is recognised by its NIC's provisioning address: make sure it has one.
    provisioning_reserve(servers=[server])
    if install.kind in (InstallKind.PROVISION, InstallKind.CUSTOM_IPXE):
        server_state_ensure(server, "provisioning", f"install {install.pk}")
    # Off then on rather than a cycle: real BMCs refuse a cycle when the server is off.
    install_power(install, "boot_network", "off")
    if install.kind in INSTALLS_OS:
        install_event_add(install=install, type="provisioning.103")
    # Wait for the machine before powering it on: a fast machine may ask for its script at once.
    step_move(install, from_step="netboot", to_step="wait_ipxe")
    try:
        install_power(install, "on")
    except RetryLater as exc:
        raise InstallError(f"power on: {exc}") from exc


def _step_begin_reinstall(install: Install) -> None:
    server_state_ensure(install.server, "provisioning", f"reinstall {install.pk}")


def _step_begin_rescue(install: Install) -> None:
    # The server stays `active`: it is the customer's, running the rescue system instead of its own.
    install_event_add(install=install, type="rescue.begin", body="Booting the rescue system (in memory; the disk is not touched)")


def _step_custom_ipxe(install: Install) -> None:
    """Fetch and check the customer's script now, so that a URL that fails ends the run before the
    machine is powered on (nothing half done)."""
    device = install.device
    assert device is not None
    try:
        script = script_fetch(ipxe_script_url=device.ipxe_script_url, userdata=device.userdata)
    except CustomIpxeError as exc:
        raise InstallError(str(exc)) from exc
    Install.objects.filter(pk=install.pk).update(ipxe_script=script)
    install.ipxe_script = script
    install_event_add(install=install, type="custom_ipxe.fetched", body=f"Custom iPXE script checked ({len(script)} bytes)")


def _step_begin_deprovision(install: Install) -> None:
    server_state_ensure(install.server, "deprovisioning", f"deprovision {install.pk}")


def _step_begin_commissioning(install: Install) -> None:
    server_state_ensure(install.server, "commissioning", f"commissioning {install.pk}")


def _step_boot_disk(install: Install) -> None:
    install_power(install, "boot_disk", "off")
    # As for the netboot: wait for the installed system before powering on; it may call home at once.
    step_move(install, from_step="boot_disk", to_step="wait_first_boot")
    try:
        install_power(install, "on")
    except RetryLater as exc:
        raise InstallError(f"power on from disk: {exc}") from exc


def _step_power_off(install: Install) -> None:
    install_power(install, "off")


def _step_release(install: Install) -> None:
    server = install.server
    server_state_ensure(server, "cleaning", f"wiped by {install.pk}")
    server_addresses_release(server=server, actor=None, reason=f"device {install.device_id} deleted")
    # With no addresses and the server cleaning, the port's desired state is isolated.
    install_port_apply(install, reason=f"device {install.device_id} deleted: isolate")


def step_done(install: Install) -> None:
    now = timezone.now()
    with transaction.atomic():
        install = Install.objects.select_for_update().get(pk=install.pk)
        if install.state != InstallState.RUNNING:
            return
        device, server = install.device, install.server
        if install.kind in INSTALLS_OS:
            server_state_ensure(server, "active", f"{install.kind} {install.pk} done")
            if not install.events.filter(type="provisioning.110").exists():
                install_event_add(install=install, type="provisioning.110")
            _device_transition(device, DeviceState.ACTIVE, f"{install.kind} finished")
        elif install.kind == InstallKind.DEPROVISION:
            # The device lets go of the server first: a server goes back to the pool only when nothing holds it.
            Device.objects.filter(pk=device.pk).update(server=None)
            _device_transition(device, DeviceState.DELETED, "deprovisioned")
            server_state_ensure(server, "ready", f"device {device.pk if device else ''} deleted and wiped")
        elif install.kind == InstallKind.RESCUE:
            install_event_add(install=install, type="rescue.ready", body="The rescue system is up; reboot to leave it")
        transition(install, InstallState.SUCCEEDED, reason="all steps done", extra={"finished_at": now, "deadline": None})


def _step_bmc_check(install: Install) -> None:
    """Commissioning: the discovery image's report matched the records, but a machine's word alone never
    puts a server in the pool. The BMC (its own channel, on the facility's worker) must report the server
    powered on while its discovery image runs; only then does the server become `ready`."""
    server = install.server
    try:
        with _device_wait(install):
            event = power_state_read(server=server, source="install")
    except NoUsableBmc as exc:
        raise InstallError(f"the BMC cannot confirm the report: {exc}") from exc
    if event.outcome != "ok":
        raise RetryLater(event.message or "the BMC did not answer the power-state read")
    if event.power_state != "on":
        raise InstallError(f"the BMC reports the server {event.power_state or 'in no known state'} while a discovery report "
                           "arrived for it: the report is not trusted")
    mismatch = _bmc_identity_mismatch(install, server)
    if mismatch is not None:
        # Not a broken run but a machine that is not who the records say (a BMC cabled to another machine, a swapped
        # board, a report from elsewhere): the server is failed with the reason, for staff, and never goes to the pool.
        server_transition(server=Server.objects.get(pk=server.pk), to="failed", reason=f"commissioning {install.pk}: {mismatch}"[:500])
        install_event_add(install=install, type="commissioning.bmc", body=mismatch[:500])
        raise ServerFailed(mismatch)
    # Two workers may run this step at once (a resume beside a slow first attempt): the locked
    # run row serialises them, and the confirmation is recorded once.
    with transaction.atomic():
        Install.objects.select_for_update().filter(pk=install.pk).first()
        if not install.events.filter(type="commissioning.bmc").exists():
            install_event_add(install=install, type="commissioning.bmc",
                              body=f"BMC confirms power {event.power_state} and serial number {server.serial}")
        server_state_ensure(server, "ready", f"commissioning {install.pk}: the report matches the records and the BMC confirms it")


def _bmc_identity_mismatch(install: Install, server: Server) -> str | None:
    """The BMC's own view of the machine's identity against the records and the discovery report: None when the
    serial number the BMC reports (IPMI FRU, Redfish SerialNumber) is the recorded one and the report's (if it
    names one); else the reason, in words."""
    try:
        with _device_wait(install):
            seen = bmc_serial_read(server=server)
    except NoUsableBmc as exc:
        raise InstallError(f"the BMC cannot confirm the report: {exc}") from exc
    except BmcError as exc:
        if exc.retryable:
            raise RetryLater(f"the BMC did not answer the serial-number read: {exc}") from exc
        return f"the BMC cannot tell the machine's serial number ({exc}), so the report cannot be matched to this server"
    if not seen:
        return "the BMC reports no serial number (FRU/SerialNumber empty), so the report cannot be matched to this server"
    if seen.strip().lower() != server.serial.strip().lower():
        return (f"the BMC reports serial number {seen} but the records say {server.serial}: the BMC belongs to another machine "
                "or the board was replaced")
    report = CommissioningReport.objects.filter(server=server).first()
    reported = ((report.data.get("system") or {}).get("serial") if report is not None and isinstance(report.data, dict)
                and isinstance(report.data.get("system"), dict) else None)
    if reported and str(reported).strip().lower() != seen.strip().lower():
        return f"the discovery report names serial number {reported} but the BMC reports {seen}: the report is not this machine's"
    return None


STEPS: dict[str, Callable[[Install], None]] = {
    "pick_server": _step_pick_server,
    "addresses": _step_addresses,
    "port": _step_port,
    "netboot": _step_netboot,
    "begin_reinstall": _step_begin_reinstall,
    "begin_deprovision": _step_begin_deprovision,
    "begin_rescue": _step_begin_rescue,
    "custom_ipxe": _step_custom_ipxe,
    "begin_commissioning": _step_begin_commissioning,
    "boot_disk": _step_boot_disk,
    "power_off": _step_power_off,
    "release": _step_release,
    "bmc_check": _step_bmc_check,
    "done": step_done,
}
