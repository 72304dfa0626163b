"""Where the Server machine (hardware) and the Device machine (installs) meet: which device a server
holds, so that staff work on a server moves the customer's device with it."""
from __future__ import annotations

from apps.hardware.models import Server
from apps.installs.models import Device, DeviceState


def server_live_device(server: Server) -> Device | None:
    """The customer's device on this server (at most one is not deleted: a database constraint)."""
    return Device.objects.select_related("project", "server__facility").filter(server=server).exclude(
        state=DeviceState.DELETED).first()
