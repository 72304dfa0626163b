"""Lab group "bmc": an emulated BMC for every server whose BMC record points at loopback — IPMI ones
on one pyghmi event loop in one process, Redfish ones as sushy-emulator processes over HTTPS — and
their ports (and Redfish certificate fingerprints) written into the BMC records, so that the admin's
power actions really go over IPMI and Redfish. Power-on events reach apps.lab.machines."""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.lab.bmc import IpmiLabProcess, RedfishLab

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# sushy-emulator is a process per BMC (~50 MB, ~1 s of CPU to start); cap them on small machines.
REDFISH_MAX = int(os.environ.get("METALYARD_LAB_REDFISH_MAX", "64"))
REDFISH_START_PARALLEL = 4


@dataclass
class Handle:
    ipmi: IpmiLabProcess | None = None
    redfish: RedfishLab | None = None
    assigned: list[int] = field(default_factory=list)  # BMC ids whose port the lab set


def start(out: Any) -> Handle:
    from apps.audit.services import audit_record
    from apps.hardware.models import BMC, BMCProtocol, PowerState

    handle = Handle()
    bmcs = list(BMC.objects.filter(host__in=LOOPBACK).select_related("server").order_by("pk"))
    if not bmcs:
        out.write("lab: no BMC records on loopback (load the demo with `python manage.py demo`); no BMCs emulated")
        return handle
    updates: dict[int, dict[str, Any]] = {}
    try:
        ipmi_bmcs = [b for b in bmcs if b.protocol == BMCProtocol.IPMI]
        if ipmi_bmcs:
            handle.ipmi = IpmiLabProcess()
            for bmc in ipmi_bmcs:
                port = handle.ipmi.add(
                    name=bmc.server.serial, username=bmc.username, password=bmc.password, server_id=str(bmc.server_id),
                    power="on" if bmc.power_state == PowerState.ON else "off",
                    address="127.0.0.1" if bmc.host == "localhost" else bmc.host, system_serial=bmc.server.serial,
                )
                updates[bmc.pk] = {"port": port}
            out.write(f"lab: {len(ipmi_bmcs)} IPMI BMCs on UDP 127.0.0.1 (one process, pid {handle.ipmi.process.pid})")
        redfish_bmcs = [b for b in bmcs if b.protocol == BMCProtocol.REDFISH]
        if redfish_bmcs:
            handle.redfish = RedfishLab(workdir=settings.DATA_DIR / "lab" / "redfish")
            chosen, skipped = redfish_bmcs[:REDFISH_MAX], redfish_bmcs[REDFISH_MAX:]
            lock = threading.Lock()

            def add(bmc: Any) -> None:
                emulator = handle.redfish.add(  # type: ignore[union-attr]
                    name=bmc.server.serial, username=bmc.username, password=bmc.password, server_id=str(bmc.server_id),
                    power="on" if bmc.power_state == PowerState.ON else "off", system_serial=bmc.server.serial,
                )
                with lock:
                    updates[bmc.pk] = {"port": emulator.port, "cert_fingerprint": emulator.fingerprint}

            with ThreadPoolExecutor(max_workers=REDFISH_START_PARALLEL) as pool:
                list(pool.map(add, chosen))
            out.write(f"lab: {len(chosen)} Redfish BMCs (sushy-emulator over HTTPS) on 127.0.0.1"
                      + (f"; {len(skipped)} more not started (METALYARD_LAB_REDFISH_MAX={REDFISH_MAX})" if skipped else ""))
        with transaction.atomic():
            for pk, fields in updates.items():
                BMC.objects.filter(pk=pk).update(**fields)
            audit_record(action="lab.bmc.endpoints", target=None, reason="lab started: emulated BMC ports recorded",
                         changes={"bmcs": [None, len(updates)]})
        handle.assigned = list(updates)
    except BaseException:
        stop(handle)
        raise
    return handle


def stop(handle: Handle) -> None:
    from apps.hardware.models import BMC

    try:
        if handle.assigned:
            # Back to the placeholder, so that a power action says "start the lab" instead of timing out.
            BMC.objects.filter(pk__in=handle.assigned).update(port=0)
    finally:
        if handle.ipmi is not None:
            handle.ipmi.stop()
        if handle.redfish is not None:
            handle.redfish.stop()
