"""Redfish through pyghmi's Redfish client, which speaks only HTTPS. BMCs carry self-signed
certificates, so each BMC's certificate is pinned by its SHA-256 fingerprint: learned on first
contact (trust on first use) or entered by staff, and a changed certificate is a fatal error."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from apps.hardware.drivers.base import BootDevice, BootSetting, PowerDriver
from apps.hardware.drivers.errors import (
    BmcAuthError,
    BmcCertificateMismatch,
    BmcError,
    BmcUnreachable,
    BmcUnsupported,
)
from apps.hardware.drivers.pyghmi_calls import PyghmiPowerCalls

_BOOT_TO_PYGHMI = {BootDevice.NETWORK: "network", BootDevice.DISK: "hd", BootDevice.DEFAULT: "default"}
_BOOT_FROM_PYGHMI = {"network": BootDevice.NETWORK, "hd": BootDevice.DISK, "default": BootDevice.DEFAULT}
_AUTH_MARKERS = ("access denied", "unauthorized", "401", "authentication")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def fingerprint_of(der_certificate: bytes) -> str:
    """SHA-256 of the DER certificate as 64 lower-case hex digits (the BMC record's form)."""
    return hashlib.sha256(der_certificate).hexdigest()


def normalise_fingerprint(value: str) -> str:
    """Accept "sha256:ab12…", "AB:12:…" (openssl's form) or bare hex; return 64 lower-case hex digits."""
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:"):]
    text = text.replace(":", "").replace(" ", "")
    if not _HEX.match(text):
        raise ValueError(
            "a certificate fingerprint is the SHA-256 of the certificate: 64 hex digits, optionally "
            "colon-separated (openssl x509 -noout -fingerprint -sha256)"
        )
    return text


def translate(exc: BaseException, *, label: str) -> BmcError:
    from pyghmi import exceptions as pyghmi_exc

    if isinstance(exc, BmcError):
        return exc
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, pyghmi_exc.InvalidParameterValue | pyghmi_exc.UnsupportedFunctionality):
        return BmcUnsupported(f"{label}: {text}", hint="this BMC does not support that operation")
    if isinstance(exc, pyghmi_exc.PyghmiException) and any(marker in text.lower() for marker in _AUTH_MARKERS):
        return BmcAuthError(
            f"{label}: the BMC rejected the credentials",
            hint="fix the user name or password on the BMC record; the platform will not retry",
        )
    return BmcUnreachable(f"{label}: {exc.__class__.__name__}: {text}", hint="no usable answer; retried with backoff")


class RedfishDriver(PyghmiPowerCalls, PowerDriver):
    protocol = "redfish"

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._command: Any = None
        self._pinned = normalise_fingerprint(target.cert_fingerprint) if target.cert_fingerprint else ""

    def _verify(self, der_certificate: bytes) -> bool:
        seen = fingerprint_of(der_certificate)
        if not self._pinned:
            # Trust on first use: the service stores it on the BMC record; from then on it is pinned.
            self._pinned = seen
            self.learned_fingerprint = seen
            return True
        if seen != self._pinned:
            raise BmcCertificateMismatch(
                f"{self.target.label}: the BMC's TLS certificate changed (pinned {self._pinned[:12]}…, got {seen[:12]}…)",
                hint="if the BMC's certificate was replaced on purpose, clear or re-enter the fingerprint on its "
                "BMC record; otherwise something is intercepting the management network",
            )
        return True

    def _cmd(self) -> Any:
        if self._command is None:
            from pyghmi.redfish import command as redfish_command

            command = redfish_command.Command(
                self.target.host,
                self.target.username,
                self.target.password,
                verifycallback=self._verify,
                port=self.target.port,
            )
            if command.sysurl is None:
                raise BmcUnsupported(f"{self.target.label}: the Redfish service lists no computer system")
            # pyghmi's HTTP timeout defaults to 60 s; the deadline bounds us anyway, this frees the socket.
            command.wc.mytimeout = self.target.timeout
            self._command = command
        return self._command

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self._cmd())
        except Exception as exc:
            self._command = None
            raise translate(exc, label=self.target.label) from exc

    def _do_power_cycle(self) -> None:
        # pyghmi's "boot": On when off, ForceRestart when on — Redfish's power cycle.
        self._call(lambda c: c.set_power("boot"))

    def _do_set_boot_device(self, device: BootDevice, persistent: bool) -> None:
        self._call(lambda c: c.set_bootdev(_BOOT_TO_PYGHMI[device], persist=persistent))

    def _do_boot_device(self) -> BootSetting:
        def read(c: Any) -> dict:
            # pyghmi caches the system for 30 s; a read-back right after a set must not see the old value.
            c._urlcache.clear()
            return c.get_bootdev()

        answer = self._call(read)
        device = _BOOT_FROM_PYGHMI.get(str(answer.get("bootdev")), BootDevice.OTHER)
        return BootSetting(device=device, persistent=answer.get("persistent"))
