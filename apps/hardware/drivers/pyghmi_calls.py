"""The power calls that pyghmi's IPMI and Redfish clients spell the same way (`get_power`,
`set_power`): shared by both adapters, each of which supplies `_call(fn)` with its own session
handling, deadline and error translation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.hardware.drivers.base import PowerState


class PyghmiPowerCalls:
    _call: Callable[[Callable[[Any], Any]], Any]

    def _do_power_state(self) -> PowerState:
        return PowerState(self._call(lambda c: c.get_power()["powerstate"]))

    def _do_power_on(self) -> None:
        self._call(lambda c: c.set_power("on"))

    def _do_power_off(self) -> None:
        self._call(lambda c: c.set_power("off"))

    def _do_soft_off(self) -> None:
        self._call(lambda c: c.set_power("shutdown"))

    def _do_reset(self) -> None:
        self._call(lambda c: c.set_power("reset"))

    def _do_system_serial(self) -> str:
        # Both clients describe the system as inventory component "System": IPMI from FRU 0 (its product area's
        # serial, else the board's or chassis'), Redfish from the ComputerSystem's SerialNumber.
        info = self._call(lambda c: c.get_inventory_of_component("System")) or {}
        for key in ("Serial Number", "Board serial number", "Chassis serial number"):
            value = info.get(key)
            if isinstance(value, (bytes, bytearray)):
                value = value.decode("latin-1", "replace")
            if value and str(value).strip():
                return str(value).strip()
        return ""
