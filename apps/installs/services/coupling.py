"""Where the Server machine (hardware) and the Device machine (installs) meet.

- A live device holds its server and its project (registered with project.holds at startup): the
  server cannot go back to the pool, and the project cannot be deleted, while it lives.
- Staff work on a server that holds a live device goes through `server_maintenance()` (and, for
  power, the action registry), which moves both machines and leaves a record on the device for its
  owner, so the platform never shows an `active` device on a server in maintenance.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.accounts.models import Project
from apps.audit.services import audit_record
from apps.hardware.models import Server, ServerState
from apps.hardware.services import server_transition
from apps.installs.models import Device, DeviceState, Install
from apps.installs.services.workflow import install_fail
from project.states import transition


def server_live_device(server: Server) -> Device | None:
    """The customer's device on this server (at most one is not deleted: a database constraint)."""
    return Device.objects.select_related("project", "server__facility").filter(server=server).exclude(
        state=DeviceState.DELETED).first()


def server_held_by_device(server: Server) -> list[str]:
    device = server_live_device(server)
    return [f"it holds device {device.hostname} ({device.pk}, {device.state}) of project {device.project}"] if device else []


def project_held_by_devices(project: Project) -> list[str]:
    live = Device.objects.filter(project=project).exclude(state=DeviceState.DELETED).count()
    return [f"{live} device(s) that are not deleted"] if live else []


def server_maintenance(*, server: Server, actor: Any, reason: str) -> Server:
    """Take a server out of service for staff work. A live device on it moves with it: an install
    under way is failed (and cleaned up: addresses released, port isolated), a settled device goes
    `failed` with the reason; either way its owner finds the operator's record on the device."""
    device = server_live_device(server)
    why = f"the server was taken into maintenance by the operator: {reason}"[:2000]
    if device is not None:
        open_run = device.installs.filter(state__in=Install.OPEN).first()
        if open_run is not None:
            install_fail(install=open_run, reason=why, actor=actor)  # moves the server to maintenance itself
        elif device.state != DeviceState.FAILED:
            transition(device, DeviceState.FAILED, actor=actor, reason=why, extra={"failure_reason": why})
        audit_record(action="installs.device.staff.maintenance", target=device, actor=actor, reason=why)
    with transaction.atomic():
        server.refresh_from_db(fields=["state"])
        if server.state != ServerState.MAINTENANCE:
            server_transition(server=server, to=ServerState.MAINTENANCE, actor=actor, reason=reason, device_moved=True)
    return server
