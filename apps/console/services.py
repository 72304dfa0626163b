"""Who may open a device's serial console, and the records every console session leaves: the session
(who, from where, when, how long, how much) in ConsoleSession and the audit log, and the device's
bounded scrollback. Called by the SOS listener (from its executor threads) and the browser console."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import SSHKey
from apps.accounts.selectors import WRITE, can, device_default_ssh_keys
from apps.accounts.sshkeys import parse_public_key
from apps.audit.services import audit_record
from apps.console.models import ConsoleScrollback, ConsoleSession
from apps.hardware.drivers import BmcTarget
from apps.hardware.power import bmc_target
from apps.installs.models import Device, DeviceState


class ConsoleRefused(Exception):
    """The console cannot be opened for this device (the message says why, in one line)."""


@dataclass(frozen=True)
class ConsoleAccess:
    device_id: Any
    hostname: str
    facility: str
    user_id: int | None
    label: str  # who, as other console users are told ("alice@example.com" or "project key 'ci'")
    key_fingerprint: str = ""
    key_label: str = ""


def _key_fingerprints(keys: list[str]) -> set[str]:
    found = set()
    for text in keys:
        try:
            found.add(parse_public_key(text).fingerprint_sha256)
        except Exception:  # noqa: S112 - a key that no longer parses grants nothing
            continue
    return found


def sos_access(*, username: str, fingerprint: str) -> ConsoleAccess | None:
    """May the SSH key with `fingerprint` open the console of device `username` (its UUID)? By the one key
    rule (`device_default_ssh_keys`): the key must be one of the keys written to the device AND still be one
    the rule gives now — a key of the project, or a personal key of a member who may change its devices
    (not read-only). Anyone else's key, or a key that is not on this device, gets None (as an unknown device)."""
    try:
        device_id = uuid.UUID(username)
    except ValueError:
        return None
    device = (Device.objects.select_related("project", "server__facility").exclude(state=DeviceState.DELETED)
              .filter(pk=device_id).first())
    if device is None or fingerprint not in _key_fingerprints(list(device.ssh_keys)):
        return None
    key = device_default_ssh_keys(device.project).filter(fingerprint_sha256=fingerprint).first()
    if key is None:
        return None
    facility = device.server.facility.code if device.server_id else (device.facility.code if device.facility_id else "")
    return ConsoleAccess(device_id=device.pk, hostname=device.hostname, facility=facility, user_id=key.owner_id,
                         label=_who(key), key_fingerprint=fingerprint, key_label=key.label)


def _who(key: SSHKey) -> str:
    if key.owner_id is not None:
        return key.owner.email or key.owner.get_username()
    return f"project key '{key.label}'"


def browser_access(*, user: Any, device: Device) -> ConsoleAccess:
    """The browser console: the same permission as SOS (may change the project's devices)."""
    if not can(user, device.project, WRITE):
        raise ConsoleRefused("Your role in this project cannot use the console (it needs collaborator or higher).")
    facility = device.server.facility.code if device.server_id else ""
    return ConsoleAccess(device_id=device.pk, hostname=device.hostname, facility=facility, user_id=user.pk,
                         label=user.email or user.get_username())


def console_target(*, device_id: Any) -> BmcTarget:
    """The BMC to open the console on: the device's server's (IPMI only)."""
    device = Device.objects.select_related("server__bmc").filter(pk=device_id).exclude(state=DeviceState.DELETED).first()
    if device is None or device.server_id is None:
        raise ConsoleRefused("This device has no server yet: its console opens once a server is picked.")
    bmc = getattr(device.server, "bmc", None)
    if bmc is None:
        raise ConsoleRefused("This device's server has no BMC on record; its console cannot be reached.")
    if bmc.protocol != "ipmi":
        raise ConsoleRefused(f"This device's BMC speaks {bmc.protocol}; the serial console needs IPMI Serial-over-LAN.")
    return bmc_target(bmc)


def console_session_open(*, access: ConsoleAccess, face: str, source_address: str | None, writer: bool) -> ConsoleSession:
    with transaction.atomic():
        session = ConsoleSession.objects.create(device_id=access.device_id, user_id=access.user_id, key_fingerprint=access.key_fingerprint,
                                                key_label=access.key_label, face=face, source_address=source_address, writer=writer)
        device = Device.objects.get(pk=access.device_id)
        audit_record(action="console.session.open", target=device, actor=session.user,
                     reason=f"{face} console opened by {access.label} from {source_address or 'unknown'}"
                            f"{' (typing)' if writer else ' (reading)'}")
    return session


def console_session_writer(*, session_id: int) -> None:
    ConsoleSession.objects.filter(pk=session_id).update(writer=True)


def console_session_close(*, session_id: int, reason: str, typed: int, shown: int) -> ConsoleSession:
    with transaction.atomic():
        session = ConsoleSession.objects.select_for_update(of=("self",)).select_related("device", "user").get(pk=session_id)
        if session.ended_at is not None:
            return session
        session.ended_at = timezone.now()
        session.end_reason, session.bytes_typed, session.bytes_shown = reason[:300], typed, shown
        session.save(update_fields=["ended_at", "end_reason", "bytes_typed", "bytes_shown"])
        audit_record(action="console.session.close", target=session.device, actor=session.user,
                     reason=f"{session.face} console closed after {session.duration_seconds:.1f} s: {reason}"[:500],
                     changes={"bytes_typed": [None, typed], "bytes_shown": [None, shown]})
    return session


def scrollback_append(*, device_id: Any, data: bytes) -> None:
    """Add console output to the device's scrollback, keeping the last SOS_SCROLLBACK_BYTES."""
    if not data:
        return
    limit = settings.SOS_SCROLLBACK_BYTES
    with transaction.atomic():
        row, _ = ConsoleScrollback.objects.select_for_update().get_or_create(device_id=device_id)
        row.data = (bytes(row.data) + data)[-limit:]
        row.save(update_fields=["data", "updated_at"])


def scrollback_append_many(*, chunks: dict[Any, bytes]) -> None:
    """scrollback_append for many devices in one transaction (the console hub's periodic flush: one commit for
    every console of the process, instead of one each)."""
    limit = settings.SOS_SCROLLBACK_BYTES
    chunks = {device_id: data for device_id, data in chunks.items() if data}
    if not chunks:
        return
    with transaction.atomic():
        rows = {row.device_id: row for row in ConsoleScrollback.objects.select_for_update().filter(device_id__in=list(chunks))
                .order_by("device_id")}
        changed = []
        for device_id, data in chunks.items():
            row = rows.get(device_id) or ConsoleScrollback.objects.get_or_create(device_id=device_id)[0]
            row.data = (bytes(row.data) + data)[-limit:]
            changed.append(row)
        # One UPDATE for them all (a save each took 100 statements every 2 s with 100 consoles open, on the console
        # server's thread pool beside the consoles). bulk_update does not run auto_now: updated_at is set here.
        now = timezone.now()
        for row in changed:
            row.updated_at = now
        ConsoleScrollback.objects.bulk_update(changed, ["data", "updated_at"])


def scrollback_read(*, device_id: Any) -> bytes:
    row = ConsoleScrollback.objects.filter(device_id=device_id).first()
    return bytes(row.data) if row is not None else b""
