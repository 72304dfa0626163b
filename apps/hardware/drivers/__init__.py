"""Power drivers: the only place that talks to BMCs. `driver_for(target)` picks the adapter by
protocol; pyghmi is imported only inside the adapters."""
from __future__ import annotations

from apps.hardware.drivers.base import BmcTarget, BootDevice, BootSetting, PowerDriver, PowerState
from apps.hardware.drivers.errors import (
    BmcAuthError,
    BmcCertificateMismatch,
    BmcError,
    BmcTimeout,
    BmcUnreachable,
    BmcUnsupported,
    FatalBmcError,
    RetryableBmcError,
)

PROTOCOLS = ("ipmi", "redfish")


def driver_for(target: BmcTarget) -> PowerDriver:
    if target.protocol == "ipmi":
        from apps.hardware.drivers.ipmi import IpmiDriver

        return IpmiDriver(target)
    if target.protocol == "redfish":
        from apps.hardware.drivers.redfish import RedfishDriver

        return RedfishDriver(target)
    raise BmcUnsupported(f"no power driver for protocol {target.protocol!r}", hint=f"use one of {', '.join(PROTOCOLS)}")


__all__ = [
    "PROTOCOLS",
    "BmcAuthError",
    "BmcCertificateMismatch",
    "BmcError",
    "BmcTarget",
    "BmcTimeout",
    "BmcUnreachable",
    "BmcUnsupported",
    "BootDevice",
    "BootSetting",
    "FatalBmcError",
    "PowerDriver",
    "PowerState",
    "RetryableBmcError",
    "driver_for",
]
