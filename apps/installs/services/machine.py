"""The calls a booting machine makes, each ending one wait of its run: the iPXE script fetch, the
installer's events and phone-home, the installed system's first-boot phone-home, the discovery
image's inventory, and an installer's report that it gave up. Unknown MACs are recorded."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.hardware.commissioning import commissioning_check
from apps.hardware.models import CommissioningReport, NetworkInterface
from apps.installs.models import DiscoveredMachine, EventSource, Install, InstallEvent, InstallKind, InstallState
from apps.installs.services.admission import install_enqueue
from apps.installs.services.runs import INSTALLS_OS, WAITS, WORKFLOWS, install_event_add, step_move
from apps.installs.services.steps import step_done
from apps.installs.services.workflow import install_fail, next_step
from project.states import transition


class MachineCallRejected(Exception):
    """A call from a machine that does not fit its install's current step (answered with 409)."""


def install_for_mac(mac: str) -> tuple[Any, Install | None]:
    """(server or None, its open run or None) for a NIC MAC."""
    nic = NetworkInterface.objects.select_related("server").filter(mac=mac).first()
    if nic is None:
        return None, None
    install = (Install.objects.select_related("device", "operating_system", "server")
               .filter(server=nic.server, state=InstallState.RUNNING).first())
    return nic.server, install


def always_pxe_install(server: Any) -> Install | None:
    """The last successful custom iPXE run of the server's live always_pxe device, if it has one."""
    from apps.installs.models import Device, DeviceState

    device = Device.objects.filter(server=server, always_pxe=True).exclude(state=DeviceState.DELETED).first()
    if device is None:
        return None
    latest = device.installs.order_by("-created_at").first()
    if latest is None or latest.kind != InstallKind.CUSTOM_IPXE or latest.state != InstallState.SUCCEEDED:
        return None
    return latest


def install_claim(*, install: Install, mac: str) -> str:
    """The machine booted its installer (or wipe or discovery image) and claims the run: the phase's
    secret is handed out once (`claimed_at`), and the wait for the iPXE fetch ends. A second claim
    (a replay, or anyone who learned the install's id) is refused: the script the machine fetched
    by GET carries no secret, and GETs change nothing."""
    with transaction.atomic():
        install = Install.objects.select_for_update(of=("self",)).select_related("device", "server").get(pk=install.pk)
        if install.state != InstallState.RUNNING or install.step != "wait_ipxe" or install.claimed_at is not None:
            raise MachineCallRejected(f"install {install.pk} cannot be claimed now (step {install.step}, {install.state}"
                                      f"{', already claimed' if install.claimed_at else ''})")
        Install.objects.filter(pk=install.pk).update(claimed_at=timezone.now())
        step_move(install, from_step="wait_ipxe", to_step=next_step(install, after="wait_ipxe"))
        if install.kind in INSTALLS_OS:
            install_event_add(install=install, type="provisioning.104.01", body=f"Device connected to DHCP system ({mac})",
                              source=EventSource.MACHINE)
    return install.secret


def install_machine_event(*, install: Install, type: str, body: str) -> InstallEvent:
    if install.state != InstallState.RUNNING or install.step not in ("wait_phone_home", "wait_inventory"):
        raise MachineCallRejected(f"install {install.pk} is not waiting for its machine (step {install.step}, {install.state})")
    return install_event_add(install=install, type=type, body=body, source=EventSource.MACHINE)


INSTALLER_STATES = frozenset({"installed", "wiped", "rescued"})
FIRST_BOOT_STATE = "booted"


def install_phone_home(*, install: Install, payload: dict[str, Any]) -> Install:
    """A phone-home: from the installer (`{"state": "installed"}` or `"wiped"`; the image is written and
    verified, or the disk wiped) it hands the run back to the platform; from the installed operating
    system's first boot (`{"state": "booted"}`) it ends the run, the device `active`."""
    state = payload.get("state", "installed")
    installs_os = install.kind in (InstallKind.PROVISION, InstallKind.REINSTALL)
    if state == FIRST_BOOT_STATE:
        if not installs_os:
            raise MachineCallRejected(f"a {install.kind} run has no installed system to boot")
        return _first_boot_phone_home(install)
    if state not in INSTALLER_STATES:
        raise MachineCallRejected(f"unknown phone-home state {state!r}: the installer sends "
                                  f"{' or '.join(sorted(INSTALLER_STATES))}, the installed system {FIRST_BOOT_STATE!r}")
    # Each state only for its kind: a forged "wiped" never ends a provision, nor "installed" a wipe.
    if state == "installed" and not installs_os:
        raise MachineCallRejected(f"'installed' ends a provision or reinstall, not a {install.kind}")
    if (state == "rescued") != (install.kind == InstallKind.RESCUE):
        raise MachineCallRejected(f"'rescued' ends a rescue boot and only it, not a {install.kind}" if state == "rescued"
                                  else f"a rescue run ends with 'rescued', not {state!r}")
    if state == "wiped":
        if install.kind != InstallKind.DEPROVISION:
            raise MachineCallRejected(f"'wiped' ends a deprovision, not a {install.kind}")
        if install.state == InstallState.RUNNING and install.step == "wait_phone_home":
            wipe_attestation_check(install=install, disks=payload.get("disks"))
    with transaction.atomic():
        moved = step_move(install, from_step="wait_phone_home", to_step=next_step(install, after="wait_phone_home"))
        if not moved:
            install.refresh_from_db()
            if install.state == InstallState.RUNNING and install.step == "wait_phone_home":
                raise MachineCallRejected("phone-home raced with another call; try again")
            if install.state != InstallState.RUNNING or _step_index(install) < _step_index(install, "wait_phone_home"):
                raise MachineCallRejected(f"install {install.pk} is not waiting for a phone-home (step {install.step}, {install.state})")
            return install  # a repeated phone-home: already handled
        if install.kind in INSTALLS_OS and not install.events.filter(type="provisioning.109").exists():
            install_event_add(install=install, type="provisioning.109", source=EventSource.MACHINE)
        install_enqueue(install)
    return install


def _first_boot_phone_home(install: Install) -> Install:
    """The installed system booted from its disk and called home: the device is ready. The last step
    (records only, no device I/O) runs right here rather than after another task hand-off."""
    with transaction.atomic():
        if not step_move(install, from_step="wait_first_boot", to_step="done"):
            install.refresh_from_db()
            if install.state == InstallState.SUCCEEDED and install.kind in INSTALLS_OS:
                return install  # a repeated phone-home: already handled
            raise MachineCallRejected(f"install {install.pk} is not waiting for its first boot (step {install.step}, {install.state})")
        install_event_add(install=install, type="provisioning.110", source=EventSource.MACHINE)
        step_done(install)
    return Install.objects.get(pk=install.pk)


def install_custom_script_served(*, install: Install) -> str:
    """The machine fetched the customer's script (chained from its per-MAC script): for a custom_ipxe run
    this is the end of the install — iPXE cannot call home, and what runs next is the customer's own.
    Returns the script. Later fetches (always_pxe, a repeat) change nothing."""
    with transaction.atomic():
        install = Install.objects.select_for_update(of=("self",)).select_related("device", "server").get(pk=install.pk)
        if install.kind != InstallKind.CUSTOM_IPXE or not install.ipxe_script:
            raise MachineCallRejected(f"install {install.pk} has no custom iPXE script")
        if install.state == InstallState.RUNNING and install.step == "wait_ipxe":
            step_move(install, from_step="wait_ipxe", to_step="done")
            install_event_add(install=install, type="provisioning.104.01", body="The machine fetched the custom iPXE script",
                              source=EventSource.MACHINE)
            step_done(install)
        elif install.state != InstallState.SUCCEEDED:
            raise MachineCallRejected(f"install {install.pk} is {install.state} at {install.step}")
    return install.ipxe_script


def _step_index(install: Install, step: str | None = None) -> int:
    return WORKFLOWS[install.kind].index(step or install.step)


def install_machine_failure(*, install: Install, reason: str) -> Install:
    """The installer gave up (e.g. checksum mismatch): fail now instead of waiting for the timeout.
    Only while the run waits on its machine: a failure report can never cut a platform step short."""
    if install.state != InstallState.RUNNING or install.step not in WAITS or install.step == "wait_ipxe":
        raise MachineCallRejected(f"install {install.pk} is not waiting for its machine (step {install.step}, {install.state})")
    return install_fail(install=install, reason=f"installer reported: {reason}"[:2000])


def install_inventory(*, install: Install, inventory: dict[str, Any]) -> Install:
    """The discovery image's report on a server being commissioned: the hardware app checks it against
    the plan and the cabling. Differences become findings for staff and end the run; a match goes on to
    the BMC cross-check (bmc_check, on the facility's worker), which alone makes the server `ready`."""
    with transaction.atomic():
        if not step_move(install, from_step="wait_inventory", to_step=next_step(install, after="wait_inventory")):
            raise MachineCallRejected(f"install {install.pk} is not waiting for an inventory (step {install.step})")
        findings = commissioning_check(server=install.server, report=inventory, actor=None, promote=False)
        note = "matches the records" if not findings else f"{len(findings)} finding(s) for staff"
        install_event_add(install=install, type="commissioning.inventory", body=f"Inventory posted: {note}", source=EventSource.MACHINE)
        if findings:
            transition(install, InstallState.SUCCEEDED, reason=f"inventory posted: {note}",
                       extra={"finished_at": timezone.now(), "deadline": None})
        else:
            install_enqueue(install)
    return install


# A disk's size as the wipe reports it may differ a little from the discovery image's rounding.
WIPE_SIZE_TOLERANCE = 0.02


def wipe_attestation_check(*, install: Install, disks: Any) -> None:
    """A machine's word alone never puts a server back in the pool: the wipe must name every disk the
    server's inventory (its latest commissioning report) knows, by serial and size."""
    report = CommissioningReport.objects.filter(server=install.server).first()
    known = {str(d.get("serial")): float(d.get("size_gb") or int(d.get("size_bytes") or 0) / 10**9)
             for d in (report.data.get("disks", []) if report else []) if isinstance(d, dict) and d.get("serial")}
    if not known:
        raise MachineCallRejected("no inventory of this server's disks (serials and sizes): its wipe cannot be attested; "
                                  "commission the server first")
    if not isinstance(disks, list) or not all(isinstance(d, dict) for d in disks):
        raise MachineCallRejected("'wiped' needs 'disks': the wiped disks, each with its serial and size_bytes")
    wiped: dict[str, float] = {}
    for disk in disks:
        size = disk.get("size_bytes")
        if not isinstance(disk.get("serial"), str) or not isinstance(size, int) or isinstance(size, bool):
            raise MachineCallRejected("each wiped disk needs a 'serial' (string) and 'size_bytes' (integer)")
        wiped[disk["serial"]] = size / 10**9
    missing = sorted(serial for serial in known if serial not in wiped)
    wrong = sorted(serial for serial, gb in known.items()
                   if serial in wiped and abs(wiped[serial] - gb) > WIPE_SIZE_TOLERANCE * max(gb, 1.0))
    if missing or wrong:
        raise MachineCallRejected(f"the wipe does not cover the server's disks: not wiped {missing or 'none'}, "
                                  f"size differs {wrong or 'none'}")


def discovered_machine_record(*, mac: str, address: str | None, inventory: dict[str, Any] | None = None) -> DiscoveredMachine:
    """An unknown MAC netbooted (and maybe reported its inventory): staff onboard it from this list.
    The list is bounded (METALYARD_DISCOVERY_MAX_MACHINES): unauthenticated callers cannot grow it forever."""
    from django.conf import settings

    if not DiscoveredMachine.objects.filter(mac=mac).exists() and \
            DiscoveredMachine.objects.count() >= settings.DISCOVERY_MAX_MACHINES:
        raise MachineCallRejected(f"the discovered-machines list is full ({settings.DISCOVERY_MAX_MACHINES}); "
                                  "staff onboard or delete some first")
    machine, _ = DiscoveredMachine.objects.get_or_create(mac=mac, defaults={"address": address})
    machine.address = address
    if inventory is not None:
        machine.inventory = inventory
    machine.save()
    return machine
