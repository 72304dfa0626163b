"""The power driver interface: what the platform asks of any BMC, whatever protocol it speaks.
Adapters (ipmi.py, redfish.py) implement `_do_*`; this class puts a hard deadline on every call."""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from apps.hardware.drivers.deadline import run_with_deadline
from apps.hardware.drivers.errors import BmcUnsupported

DEFAULT_TIMEOUT = 10.0


class PowerState(StrEnum):
    """A machine's power state: what a BMC answers (on, off) and what the platform records (also
    unknown, before any answer). The one enum for the concept; the BMC model's choices are built from it."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class BootDevice(StrEnum):
    NETWORK = "network"  # PXE
    DISK = "disk"
    DEFAULT = "default"  # no override: the firmware's own order
    OTHER = "other"  # something we never set (optical, setup …)


@dataclass(frozen=True)
class BootSetting:
    device: BootDevice
    # None when the BMC does not say (Redfish's "Continuous"/"Once" is not always kept).
    persistent: bool | None


@dataclass(frozen=True)
class BmcTarget:
    """How to reach one BMC. The password is plaintext here: build this right before the call,
    never log it, never store it (repr hides it)."""

    protocol: str  # "ipmi" | "redfish"
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    cert_fingerprint: str = ""  # Redfish only: SHA-256 hex of the certificate; empty = learn on first contact
    timeout: float = DEFAULT_TIMEOUT

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"


class PowerDriver(abc.ABC):
    """One BMC, one caller at a time. Use as a context manager so sessions are closed."""

    protocol: ClassVar[str]
    ACTIONS: ClassVar[tuple[str, ...]] = ("on", "off", "soft_off", "cycle", "reset")

    def __init__(self, target: BmcTarget) -> None:
        self.target = target
        # Set by a driver that pins certificates when it learned one on first contact.
        self.learned_fingerprint: str | None = None

    # -- public calls, each bounded by target.timeout ------------------------------------
    def power_state(self) -> PowerState:
        return self._bounded("read power state", self._do_power_state)

    def power_on(self) -> None:
        self._bounded("power on", self._do_power_on)

    def power_off(self) -> None:
        """Hard off, without asking the operating system."""
        self._bounded("power off", self._do_power_off)

    def soft_off(self) -> None:
        """Ask the operating system to shut down (ACPI); it may take minutes or be ignored."""
        self._bounded("soft off", self._do_soft_off)

    def power_cycle(self) -> None:
        """Off then on (on if it was off)."""
        self._bounded("power cycle", self._do_power_cycle)

    def reset(self) -> None:
        """Hard reset (warm reboot) of a running machine."""
        self._bounded("reset", self._do_reset)

    def set_boot_device(self, device: BootDevice | str, *, persistent: bool = False) -> None:
        device = BootDevice(device)
        if device not in (BootDevice.NETWORK, BootDevice.DISK, BootDevice.DEFAULT):
            raise BmcUnsupported(f"cannot set boot device {device!r}", hint="use network, disk or default")
        self._bounded(f"set boot device {device}", lambda: self._do_set_boot_device(device, persistent))

    def boot_device(self) -> BootSetting:
        return self._bounded("read boot device", self._do_boot_device)

    def system_serial(self) -> str:
        """The machine's serial number as its BMC knows it (IPMI FRU 0, Redfish SerialNumber); '' when it has none."""
        return self._bounded("read serial number", self._do_system_serial)

    def perform(self, action: str) -> None:
        """Run one of ACTIONS by name (what services and tasks pass around)."""
        methods = {
            "on": self.power_on,
            "off": self.power_off,
            "soft_off": self.soft_off,
            "cycle": self.power_cycle,
            "reset": self.reset,
        }
        if action not in methods:
            raise BmcUnsupported(f"unknown power action {action!r}", hint=f"use one of {', '.join(self.ACTIONS)}")
        methods[action]()

    def close(self) -> None:
        # Closing a dead session must never hide the outcome of the call that mattered.
        with contextlib.suppress(Exception):
            run_with_deadline(self._do_close, timeout=min(self.target.timeout, 2.0), what=f"{self.target.label} close")

    def __enter__(self) -> PowerDriver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _bounded(self, what: str, fn: Any) -> Any:
        return run_with_deadline(fn, timeout=self.target.timeout, what=f"{self.target.label} {what}")

    # -- what an adapter implements (runs in a worker thread) ----------------------------
    @abc.abstractmethod
    def _do_power_state(self) -> PowerState: ...

    @abc.abstractmethod
    def _do_power_on(self) -> None: ...

    @abc.abstractmethod
    def _do_power_off(self) -> None: ...

    @abc.abstractmethod
    def _do_soft_off(self) -> None: ...

    @abc.abstractmethod
    def _do_power_cycle(self) -> None: ...

    @abc.abstractmethod
    def _do_reset(self) -> None: ...

    @abc.abstractmethod
    def _do_set_boot_device(self, device: BootDevice, persistent: bool) -> None: ...

    @abc.abstractmethod
    def _do_boot_device(self) -> BootSetting: ...

    def _do_system_serial(self) -> str:
        raise BmcUnsupported(f"{self.target.label}: reading the serial number is not implemented for {self.protocol}")

    def _do_close(self) -> None:
        return None
