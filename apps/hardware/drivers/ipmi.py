"""IPMI over LAN (RMCP+) through pyghmi's client. Works around the snags measured in LAB.md:
credentials passed as bytes (pyghmi's session cache hangs with str), no timeout argument (every call
is bounded by PowerDriver's deadline thread), BMCs that offer only cipher suite 3 (pyghmi falls back
when the BMC refuses 17)."""
from __future__ import annotations

import threading
from typing import Any

from apps.hardware.drivers.base import BootDevice, BootSetting, PowerDriver
from apps.hardware.drivers.errors import BmcAuthError, BmcError, BmcTimeout, BmcUnreachable, BmcUnsupported
from apps.hardware.drivers.pyghmi_calls import PyghmiPowerCalls

# One pyghmi conversation per BMC at a time in this process. pyghmi hands a second login with the
# same credentials the *same* session object while the first is still logging in and re-runs its
# constructor on it, which corrupts its shared tables; a call abandoned at its deadline keeps its
# BMC's lock until pyghmi gives up, and later calls to that BMC wait for it (bounded), not pyghmi.
_bmc_locks: dict[tuple[str, int], threading.Lock] = {}
_bmc_locks_guard = threading.Lock()


def _bmc_lock(host: str, port: int) -> threading.Lock:
    with _bmc_locks_guard:
        return _bmc_locks.setdefault((host, port), threading.Lock())

CHASSIS_NETFN = 0x00
CHASSIS_CONTROL = 0x02
CHASSIS_POWER_CYCLE = 0x02

_AUTH_MARKERS = ("password", "unauthorized name", "unauthorized role", "privilege", "invalid username")
_BOOT_TO_PYGHMI = {BootDevice.NETWORK: "network", BootDevice.DISK: "hd", BootDevice.DEFAULT: "default"}
_BOOT_FROM_PYGHMI = {"network": BootDevice.NETWORK, "hd": BootDevice.DISK, "default": BootDevice.DEFAULT}


def translate(exc: BaseException, *, label: str) -> BmcError:
    """pyghmi's exceptions → our typed errors. Only the text tells an IPMI login failure apart."""
    from pyghmi import exceptions as pyghmi_exc

    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, BmcError):
        return exc
    if isinstance(exc, pyghmi_exc.InvalidParameterValue | pyghmi_exc.UnsupportedFunctionality):
        return BmcUnsupported(f"{label}: {text}", hint="this BMC does not support that operation")
    if any(marker in text.lower() for marker in _AUTH_MARKERS):
        return BmcAuthError(
            f"{label}: the BMC rejected the credentials ({text})",
            hint="fix the user name or password on the BMC record; the platform will not retry",
        )
    if isinstance(exc, pyghmi_exc.IpmiException | OSError):
        return BmcUnreachable(f"{label}: {text}", hint="no usable answer; retried with backoff")
    return BmcUnreachable(f"{label}: unexpected {exc.__class__.__name__}: {text}", hint="retried with backoff")


class IpmiDriver(PyghmiPowerCalls, PowerDriver):
    protocol = "ipmi"

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._command: Any = None

    def _cmd(self) -> Any:
        if self._command is None:
            from pyghmi.ipmi import command as ipmi_command

            from apps.hardware.drivers import pyghmi_fixes

            pyghmi_fixes.apply()

            # bytes, not str: with str pyghmi's session-cache clean-up never matches (LAB.md).
            self._command = ipmi_command.Command(
                bmc=self.target.host,
                port=self.target.port,
                userid=self.target.username.encode(),
                password=self.target.password.encode(),
                keepalive=False,
            )
        return self._command

    def _bounded(self, what: str, fn: Any) -> Any:
        try:
            return super()._bounded(what, fn)
        except BmcTimeout:
            # The call was abandoned at its deadline, but pyghmi goes on retrying its session for
            # longer than that, in the abandoned thread, holding this BMC's lock: a retry (the
            # power-state sync asks twice) then timed out behind it even when the BMC answered
            # again — healthy BMCs were flagged silent under load. End the session now: the
            # abandoned thread returns, the lock is free, and the next call logs in anew.
            from apps.hardware.drivers import pyghmi_fixes

            pyghmi_fixes.sessions_break(host=self.target.host, port=self.target.port,
                                        reason=f"{self.target.label}: abandoned at the caller's deadline")
            self._command = None
            raise

    def _call(self, fn: Any) -> Any:
        lock = _bmc_lock(self.target.host, self.target.port)
        if not lock.acquire(timeout=self.target.timeout):
            raise BmcTimeout(f"{self.target.label}: an earlier call to this BMC is still waiting for its answer",
                             hint="the BMC is silent; retried with backoff")
        try:
            return fn(self._cmd())
        except Exception as exc:
            # A session that failed once is not trusted again: the next call logs in anew.
            self._command = None
            raise translate(exc, label=self.target.label) from exc
        finally:
            lock.release()

    def _do_power_cycle(self) -> None:
        def cycle(c: Any) -> None:
            if c.get_power()["powerstate"] == "off":
                c.set_power("on")
                return
            # pyghmi's set_power has no "cycle"; chassis control 02h is the IPMI power cycle.
            response = c.raw_command(netfn=CHASSIS_NETFN, command=CHASSIS_CONTROL, data=[CHASSIS_POWER_CYCLE])
            if "error" in response:
                from pyghmi import exceptions as pyghmi_exc

                raise pyghmi_exc.IpmiException(response["error"])

        self._call(cycle)

    def _do_set_boot_device(self, device: BootDevice, persistent: bool) -> None:
        self._call(lambda c: c.set_bootdev(_BOOT_TO_PYGHMI[device], persist=persistent))

    def _do_boot_device(self) -> BootSetting:
        answer = self._call(lambda c: c.get_bootdev())
        device = _BOOT_FROM_PYGHMI.get(str(answer.get("bootdev")), BootDevice.OTHER)
        return BootSetting(device=device, persistent=answer.get("persistent"))

    def _do_close(self) -> None:
        command, self._command = self._command, None
        if command is not None:
            lock = _bmc_lock(self.target.host, self.target.port)
            if lock.acquire(timeout=self.target.timeout):
                try:
                    command.ipmi_session.logout()
                finally:
                    lock.release()
