"""Orders: a customer orders, reinstalls or deletes a device; staff commission a server. Each
records the run and leaves the rest to admission and the workflow."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import QuotaResource
from apps.accounts.quotas import quota_check
from apps.accounts.selectors import device_ssh_keys
from apps.audit.services import audit_record, diff, snapshot
from apps.hardware.models import Server, ServerState
from apps.installs.custom_ipxe import has_script
from apps.installs.models import CUSTOM_IPXE_SLUG, Device, DeviceState, Install, InstallKind, OperatingSystem
from apps.installs.outbound import TargetRefused, target_check
from apps.installs.services.admission import installs_admit
from apps.installs.services.reservations import reservation_for_order, unreserved
from apps.installs.services.spot_notice import spot_reclaim_for_demand
from apps.installs.services.workflow import install_fail
from project.states import IllegalTransition, StateConflict, transition


def device_create(*, project: Any, hostname: str, plan: Any, operating_system: OperatingSystem, facility: Any = None,
                  metro: Any = None, ssh_keys: list[str] | None = None, project_ssh_keys: list[Any] | None = None,
                  user_ssh_keys: list[Any] | None = None, no_ssh_keys: bool = False, userdata: str = "",
                  tags: list[str] | None = None, description: str = "", public_ipv4_subnet_size: int = 31,
                  hardware_reservation: str | None = None, reclaim_spot: bool = True, locked: bool = False,
                  billing_cycle: str = "hourly", customdata: dict[str, Any] | None = None, ipxe_script_url: str = "",
                  always_pxe: bool = False, actor: Any = None) -> Device:
    """Order a device: checks the order, records it `queued` and starts its provisioning run. With
    `hardware_reservation` (a reservation's UUID or `next-available`) it deploys on the project's reserved server.
    An on-demand order that finds no server gives notice to a spot device that holds one (`reclaim_spot`).

    The keys written to it follow one rule for every face (`device_ssh_keys`): the listed ones
    (`ssh_keys` texts, `project_ssh_keys`/`user_ssh_keys` ids), none with `no_ssh_keys`, otherwise
    the project's keys and its writing members' personal keys."""
    userdata_check(userdata)
    keys = device_ssh_keys(project=project, project_ssh_keys=project_ssh_keys, user_ssh_keys=user_ssh_keys, ssh_keys=ssh_keys,
                           no_ssh_keys=no_ssh_keys)
    script_url_check(ipxe_script_url)
    if not hardware_reservation:
        _on_demand_capacity_check(plan=plan, facility=facility, metro=metro, reclaim_spot=reclaim_spot)
    with transaction.atomic():
        quota_check(project=project, resource=QuotaResource.DEVICES, adding=1)
        reservation = None
        if hardware_reservation:
            reservation = reservation_for_order(project=project, requested=str(hardware_reservation), plan=plan, facility=facility, metro=metro)
            server = reservation.server
            if plan is not None and plan.pk != server.plan_id:
                raise ValidationError({"plan": f"The reserved server is a {server.plan.slug}, not a {plan.slug}."})
            if server.state != "ready":
                raise ValidationError({"hardware_reservation_id": f"The reserved server is not ready yet (it is {server.state}); try again shortly."})
            plan, facility, metro = server.plan, server.facility, server.facility.metro
        if facility is None and metro is None:
            raise ValidationError({"facility": "Give a facility or a metro."})
        if metro is None:
            metro = facility.metro
        elif facility is not None and facility.metro_id != metro.pk:
            raise ValidationError({"facility": f"Facility {facility.code} is not in metro {metro.code}."})
        if not operating_system.provisionable:
            raise ValidationError({"operating_system": f"{operating_system.slug} can no longer be ordered."})
        os_plan_check(operating_system, plan)
        custom_ipxe_check(operating_system, ipxe_script_url=ipxe_script_url, userdata=userdata)
        device = Device(project=project, hostname=hostname, plan=plan, metro=metro, facility=facility,
                        operating_system=operating_system, ssh_keys=keys, userdata=userdata,
                        tags=list(tags or []), description=description, public_ipv4_subnet_size=public_ipv4_subnet_size,
                        locked=locked, billing_cycle=billing_cycle, customdata=dict(customdata or {}),
                        ipxe_script_url=ipxe_script_url or "", always_pxe=bool(always_pxe),
                        hardware_reservation=reservation, created_by=actor if getattr(actor, "is_authenticated", False) else None)
        # The related rows are the instances the caller looked up, and the table's constraints (and its
        # fresh UUID key) hold in the database itself: validate the fields without a query each.
        device.full_clean(exclude=["server", "created_by", "project", "plan", "metro", "facility", "operating_system", "hardware_reservation"],
                          validate_unique=False, validate_constraints=False)
        device.save()
        Install.objects.create(kind=install_kind_for(operating_system, InstallKind.PROVISION), device=device,
                               operating_system=operating_system)
        audit_record(action="installs.device.create", target=device, changes={k: [None, v] for k, v in snapshot(device).items()}, actor=actor)
        transaction.on_commit(installs_admit)
    return device


def userdata_check(userdata: str | None) -> None:
    """Refuse userdata over USERDATA_MAX_BYTES (the real service's 64 KiB), counted in UTF-8 bytes."""
    size = len((userdata or "").encode())
    if size > settings.USERDATA_MAX_BYTES:
        raise ValidationError({"userdata": f"Userdata is at most {settings.USERDATA_MAX_BYTES} bytes "
                                           f"({settings.USERDATA_MAX_BYTES // 1024} KiB); this is {size} bytes."})


def install_kind_for(os_: OperatingSystem, kind: str) -> str:
    """custom_ipxe is installed by the customer's own script; every other system by the installer."""
    return InstallKind.CUSTOM_IPXE if os_.slug == CUSTOM_IPXE_SLUG else kind


def os_plan_check(os_: OperatingSystem, plan: Any) -> None:
    if os_.slug == CUSTOM_IPXE_SLUG:
        return  # the customer's script boots whatever it likes on any plan
    if not os_.plans.filter(pk=plan.pk).exists():
        allowed = ", ".join(os_.plans.values_list("slug", flat=True)) or "none"
        raise ValidationError({"operating_system": f"{os_.slug} cannot be installed on {plan.slug} (it can on: {allowed})."})


def script_url_check(ipxe_script_url: str) -> None:
    """A URL is http or https only, and its host must not resolve to the platform's own, private or reserved
    networks (apps.installs.outbound; checked again at fetch time). It resolves a name (bounded by the fetch
    timeout): call it before taking row locks, not under them."""
    if not ipxe_script_url:
        return
    if not ipxe_script_url.lower().startswith(("http://", "https://")):
        raise ValidationError({"ipxe_script_url": "The iPXE script URL must be http:// or https://."})
    try:
        target_check(ipxe_script_url)
    except TargetRefused as exc:
        raise ValidationError({"ipxe_script_url": f"The iPXE script URL is refused: {exc}."}) from None


def custom_ipxe_check(os_: OperatingSystem, *, ipxe_script_url: str, userdata: str) -> None:
    """custom_ipxe needs a script (a URL or #!ipxe userdata); a URL is http or https only (script_url_check, run
    before the caller's transaction, looks where it points)."""
    if ipxe_script_url and not ipxe_script_url.lower().startswith(("http://", "https://")):
        raise ValidationError({"ipxe_script_url": "The iPXE script URL must be http:// or https://."})
    if os_.slug == CUSTOM_IPXE_SLUG and not has_script(ipxe_script_url=ipxe_script_url, userdata=userdata):
        raise ValidationError({"ipxe_script_url": "custom_ipxe needs an ipxe_script_url, or userdata beginning with #!ipxe."})


def _on_demand_capacity_check(*, plan: Any, facility: Any, metro: Any, reclaim_spot: bool) -> None:
    """Refuse an on-demand order no free server can take. Outside the order's transaction, so that the notice it
    may give a spot device holding such a server (`reclaim_spot`) stays when the order is refused."""
    if plan is None or (facility is None and metro is None):
        return  # the order's own checks say what is missing
    pool = Server.objects.filter(plan=plan, state="ready")
    pool = pool.filter(facility=facility) if facility is not None else pool.filter(facility__metro=metro)
    if unreserved(pool).exists():
        return
    where = facility.code if facility is not None else f"metro {metro.code}"
    message = f"No {plan.slug} server is available in {where} right now; try another facility or plan."
    if reclaim_spot and spot_reclaim_for_demand(plan=plan, facility=facility, metro=metro) is not None:
        minutes = max(1, settings.SPOT_TERMINATION_NOTICE_SECONDS // 60)
        message += f" A spot server is being reclaimed for on-demand orders; try again in {minutes} minutes or so."
    raise ValidationError({"plan": message})


def device_reinstall(*, device: Device, operating_system: OperatingSystem | None = None, actor: Any = None,
                     reason: str = "", preserve_data: bool = False, deprovision_fast: bool = False,
                     ipxe_script_url: str | None = None) -> Install:
    """Reinstall on the same server with the same addresses (optionally another operating system).
    `preserve_data` keeps the non-root partitions; `deprovision_fast` skips the full wipe of the disk
    (only the partition table and the root are rewritten). Without either, the whole disk is wiped first."""
    script_url_check(device.ipxe_script_url if ipxe_script_url is None else ipxe_script_url)
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        if device.locked:
            raise ValidationError({"locked": "Cannot reinstall a locked item"})
        if device.server_id is None:
            raise ValidationError({"device": "This device has no server to reinstall; delete it and order a new one."})
        os_ = operating_system or device.operating_system
        os_plan_check(os_, device.plan)
        script_url = device.ipxe_script_url if ipxe_script_url is None else ipxe_script_url
        custom_ipxe_check(os_, ipxe_script_url=script_url, userdata=device.userdata)
        if preserve_data and os_.slug == CUSTOM_IPXE_SLUG:
            raise ValidationError({"preserve_data": "custom_ipxe writes nothing to the disk: there is nothing to preserve."})
        transition(device, DeviceState.REINSTALLING, actor=actor, reason=reason or "reinstall requested")
        if os_.pk != device.operating_system_id or script_url != device.ipxe_script_url:
            Device.objects.filter(pk=device.pk).update(operating_system=os_, ipxe_script_url=script_url)
            device.operating_system, device.ipxe_script_url = os_, script_url
        install = Install.objects.create(kind=install_kind_for(os_, InstallKind.REINSTALL), device=device, server=device.server,
                                         operating_system=os_, preserve_data=preserve_data, deprovision_fast=deprovision_fast)
        audit_record(action="installs.device.reinstall", target=device, actor=actor, reason=reason or "reinstall requested",
                     changes={"operating_system": [None, os_.slug], "preserve_data": [None, preserve_data],
                              "deprovision_fast": [None, deprovision_fast]})
        transaction.on_commit(installs_admit)
    return install


UPDATABLE_FIELDS = ("hostname", "description", "tags", "locked", "userdata", "customdata", "billing_cycle", "ipxe_script_url",
                    "always_pxe")


def device_update(*, device: Device, actor: Any = None, **changes: Any) -> Device:
    """Change what the customer may change on a device (the UPDATABLE_FIELDS), under the row lock, audited.
    A new hostname or userdata takes effect at the next install, as on the real service."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    if "userdata" in changes:
        userdata_check(changes["userdata"])
    if changes.get("ipxe_script_url"):
        script_url_check(changes["ipxe_script_url"])
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        before = snapshot(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        if "ipxe_script_url" in changes or "userdata" in changes:
            custom_ipxe_check(locked.operating_system, ipxe_script_url=locked.ipxe_script_url, userdata=locked.userdata)
        locked.full_clean(exclude=["server", "created_by", "project", "plan", "metro", "facility", "operating_system", "hardware_reservation"],
                          validate_unique=False, validate_constraints=False)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(action="installs.device.update", target=locked, changes=diff(before, snapshot(locked)), actor=actor)
    return locked


def device_delete(*, device: Device, actor: Any = None, reason: str = "") -> Install | None:
    """Delete a device: power off, wipe, isolate the port, release the addresses, server back to the pool."""
    with transaction.atomic():
        device = Device.objects.select_for_update().get(pk=device.pk)
        if device.locked:
            raise ValidationError({"locked": "Cannot delete a locked item"})
        open_run = device.installs.filter(state__in=Install.OPEN).first()
        if open_run is not None:
            install_fail(install=open_run, reason="cancelled: the device is being deleted", actor=actor, cleanup=False)
            device.refresh_from_db()
        transition(device, DeviceState.DEPROVISIONING, actor=actor, reason=reason or "delete requested")
        if device.server_id is None:
            transition(device, DeviceState.DELETED, actor=actor, reason="no server was held")
            return None
        install = Install.objects.create(kind=InstallKind.DEPROVISION, device=device, server=device.server)
        transaction.on_commit(installs_admit)
    return install


def server_commission(*, server: Server, actor: Any = None) -> Install:
    """Netboot a `new` server into the discovery image; its inventory goes to the hardware commissioning check."""
    with transaction.atomic():
        locked = Server.objects.select_for_update().get(pk=server.pk)
        allowed = Server.TRANSITIONS.get(locked.state, frozenset())
        if ServerState.COMMISSIONING not in allowed:
            raise IllegalTransition(locked, locked.state, ServerState.COMMISSIONING, allowed)
        if Install.objects.filter(server=locked, state__in=Install.OPEN).exists():
            raise StateConflict(f"Server {locked.serial} already has an install run under way.")
        install = Install.objects.create(kind=InstallKind.COMMISSIONING, server=locked)
        audit_record(action="installs.server.commission", target=locked, actor=actor, reason="discovery boot requested")
        transaction.on_commit(installs_admit)
    return install
