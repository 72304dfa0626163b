"""Junos switches through junos-eznc (NETCONF over SSH): port intents rendered as `set` lines and
applied with lock → load → commit check → diff → commit confirmed → verify → confirm → unlock.

junos-eznc is imported only here. The exclusive lock (`<lock-configuration/>`) means that a session
that ends for any reason releases the lock and discards what it loaded but did not commit; a
`commit confirmed` that is never confirmed is rolled back by the switch itself.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import socket
import time
from base64 import b64encode
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import paramiko
from jnpr.junos import Device
from jnpr.junos import exception as ez
from jnpr.junos.utils.config import Config

from apps.network.drivers import (
    PortIntent,
    PortMode,
    PushResult,
    SwitchAuthFailed,
    SwitchBusy,
    SwitchDriver,
    SwitchError,
    SwitchHostKeyMismatch,
    SwitchRejected,
    SwitchSessionLost,
    SwitchTarget,
    SwitchTimeout,
    SwitchUnreachable,
    SwitchVerifyFailed,
    SwitchVlans,
    junos_bgp,
)

log = logging.getLogger(__name__)

UNIT = 0
# What a description may hold once rendered: no quotes, backslashes or newlines can reach the switch.
DESCRIPTION_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/@+,=#()-]")
DESCRIPTION_MAX = 200
CLEANUP_TIMEOUT = 5.0
# What a port's configuration spans: the interface, and the BGP groups and filters named after it.
RUNNING_FILTER = "<configuration><interfaces/><protocols><bgp/></protocols><policy-options/></configuration>"
PHYSICAL_PORT = re.compile(r"^[a-z]{2,4}-(\d+)/(\d+)/(\d+)$")
PORT_NAME = re.compile(r"^[a-z]{2,4}-\d+/\d+/\d+(:\d+)?$|^(ae|em|fxp|me|irb|lo)\d+$")


def _quote(value: str) -> str:
    # Junos's `display set` quotes a value that holds anything but these characters.
    if value and re.fullmatch(r"[A-Za-z0-9_.:/@+,=\-]+", value):
        return value
    return f'"{value}"'


def safe_description(text: str) -> str:
    return DESCRIPTION_UNSAFE.sub("_", " ".join(text.split()))[:DESCRIPTION_MAX].strip()


def fingerprint_of(key: paramiko.PKey) -> str:
    return "SHA256:" + b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class JunosDriver(SwitchDriver):
    vendor = "junos"

    # ------------------------------------------------------------------ rendering (pure)
    def expected_lines(self, intent: PortIntent) -> list[str]:
        if not PORT_NAME.match(intent.name):
            raise SwitchRejected(f"'{intent.name}' is not a Junos interface name (e.g. xe-0/0/12, ge-0/0/1, et-0/0/48:1).")
        prefix = f"set interfaces {intent.name}"
        lines = []
        description = safe_description(intent.description)
        if description:
            lines.append(f"{prefix} description {_quote(description)}")
        if intent.mode == PortMode.ISOLATED:
            lines.append(f"{prefix} disable")
            return lines
        if intent.mtu:
            lines.append(f"{prefix} mtu {int(intent.mtu)}")
        if intent.mode == PortMode.LAYER2 and intent.lag:
            # A member of an LACP bundle: the trunk is the bundle's (on aeN), the member only joins it.
            lines = [line for line in lines if " mtu " not in line]
            lines.append(f"{prefix} ether-options 802.3ad {intent.lag}")
            if intent.lag == lag_name(intent.name):
                bundle = f"set interfaces {intent.lag}"
                if description:
                    lines.append(f"{bundle} description {_quote(description)}")
                if intent.mtu:
                    lines.append(f"{bundle} mtu {int(intent.mtu)}")
                lines.append(f"{bundle} aggregated-ether-options lacp active")
                lines.extend(_trunk(bundle, intent))
            return lines
        if intent.mode == PortMode.LAYER2:
            lines.extend(_trunk(prefix, intent))
            return lines
        for family, addresses in (("inet", _addresses(intent, 4)), ("inet6", _addresses(intent, 6))):
            lines.extend(f"{prefix} unit {UNIT} family {family} address {address}" for address in addresses)
        # A routed port may carry the customer's BGP sessions (their groups and filters are named after the port).
        lines.extend(junos_bgp.lines(intent.name, intent.bgp, quote=_quote))
        return lines

    def render(self, intents: Sequence[PortIntent], vlans: SwitchVlans | None = None) -> list[str]:
        lines: list[str] = []
        if vlans is not None:
            # Definitions first (a trunk names its VLANs); those no managed port uses any more go.
            lines.extend(f"set vlans {vlan_name(vid)} vlan-id {int(vid)}" for vid in sorted(vlans.present))
            lines.extend(f"delete vlans {vlan_name(vid)}" for vid in sorted(vlans.absent))
        for intent in intents:
            # Replace the whole interface, and its BGP groups and filters, so that nothing left from before
            # (or by hand) survives.
            lines.append(f"delete interfaces {intent.name}")
            # The LACP bundle named after the port goes with it too (an absent one draws a "statement not found" warning).
            if PHYSICAL_PORT.match(intent.name):
                lines.append(f"delete interfaces {lag_name(intent.name)}")
            lines.extend(junos_bgp.delete_lines(intent.name))
            lines.extend(self.expected_lines(intent))
        return lines

    def mask_secrets(self, lines: Sequence[str]) -> list[str]:
        # Junos shows an authentication-key encrypted ($9$…), never as loaded: compare and store it masked.
        return junos_bgp.mask(list(lines))

    # ------------------------------------------------------------------ device I/O
    def apply(self, target: SwitchTarget, intents: Sequence[PortIntent], *, comment: str, confirm_minutes: int,
              on_diff: Callable[[str], None] | None = None, vlans: SwitchVlans | None = None) -> PushResult:
        config_text = "\n".join(self.render(intents, vlans))
        result = PushResult(changed=False, committed=False)
        step = "connect"
        commit_confirmed = False
        started = time.monotonic()

        def mark(name: str) -> None:
            nonlocal started, step
            result.steps.append((step, round(time.monotonic() - started, 4)))
            step, started = name, time.monotonic()

        with self._session(target, result) as dev:
            cu = Config(dev)
            locked = False
            try:
                mark("lock")
                cu.lock()
                locked = True
                mark("load")
                cu.load(config_text, format="set", ignore_warning="statement not found")
                mark("commit_check")
                cu.commit_check()
                mark("diff")
                diff = cu.diff()
                if diff is None:
                    mark("rollback")
                    cu.rollback()
                    mark("unlock")
                    cu.unlock()
                    locked = False
                    mark("done")
                    return result
                result.changed, result.diff = True, diff.strip("\n") + "\n"
                if on_diff is not None:
                    on_diff(result.diff)
                mark("commit_confirmed")
                cu.commit(confirm=confirm_minutes, comment=_log_text(comment + " (confirmed)"))
                commit_confirmed = True
                mark("verify")
                running = self._read_ports(dev, [i.name for i in intents])
                problems = self._differences(intents, running)
                if problems:
                    raise SwitchVerifyFailed("After the commit the switch does not run the desired lines: " + "; ".join(problems), step="verify")
                mark("confirm")
                cu.commit(comment=_log_text(comment))
                result.committed = True
                mark("unlock")
                cu.unlock()
                locked = False
                mark("done")
                return result
            except SwitchError:
                self._clean_up(dev, cu, locked=locked, revert=commit_confirmed)
                raise
            except Exception as exc:
                error = _translate(exc, step, target)
                if isinstance(error, (SwitchTimeout, SwitchSessionLost)):
                    # The session is not to be trusted: dropping it ends the exclusive lock and discards the
                    # candidate on the switch; an unconfirmed commit rolls itself back there.
                    _hard_close(dev)
                else:
                    self._clean_up(dev, cu, locked=locked, revert=commit_confirmed)
                raise error from exc

    def running_ports(self, target: SwitchTarget, names: Sequence[str]) -> tuple[dict[str, list[str]], str]:
        result = PushResult(changed=False, committed=False)
        with self._session(target, result) as dev:
            try:
                return self._read_ports(dev, names), result.host_key_fingerprint
            except Exception as exc:
                raise _translate(exc, "read", target) from exc

    def bgp_neighbor_states(self, target: SwitchTarget) -> dict[str, tuple[str, int]]:
        result = PushResult(changed=False, committed=False)
        with self._session(target, result) as dev:
            try:
                reply = dev.rpc.get_bgp_neighbor_information()
            except Exception as exc:
                raise _translate(exc, "read", target) from exc
        states = {}
        for peer in reply.xpath(".//*[local-name()='bgp-peer']"):
            address = "".join(peer.xpath("./*[local-name()='peer-address']/text()")).strip()
            state = "".join(peer.xpath("./*[local-name()='peer-state']/text()")).strip()
            accepted = peer.xpath(".//*[local-name()='accepted-prefix-count']/text()")
            # Junos writes the peer as address+port (10.11.0.1+179); IPv6 the same way.
            states[address.rsplit("+", 1)[0]] = (state, sum(int(n) for n in accepted if n.strip().isdigit()))
        return states

    def differences(self, intents: Sequence[PortIntent], running: dict[str, list[str]]) -> list[str]:
        return self._differences(intents, running)

    # ------------------------------------------------------------------ helpers
    def _differences(self, intents: Sequence[PortIntent], running: dict[str, list[str]]) -> list[str]:
        problems = []
        for intent in intents:
            want, have = set(self.mask_secrets(self.expected_lines(intent))), set(self.mask_secrets(running.get(intent.name, [])))
            missing, extra = sorted(want - have), sorted(have - want)
            if missing or extra:
                parts = [f"missing {line!r}" for line in missing] + [f"unexpected {line!r}" for line in extra]
                problems.append(f"{intent.name}: " + ", ".join(parts))
        return problems

    def _read_ports(self, dev: Any, names: Sequence[str]) -> dict[str, list[str]]:
        reply = dev.rpc.get_config(filter_xml=RUNNING_FILTER, options={"format": "set", "database": "committed"})
        wanted = set(names)
        by_bgp_name = {bgp_name: name for name in names for bgp_name in junos_bgp.names(name)}
        # A port's LACP bundle (named after it) belongs to the port's configuration.
        by_lag = {lag_name(name): name for name in names if PHYSICAL_PORT.match(name)}
        ports: dict[str, list[str]] = {name: [] for name in names}
        for line in (reply.text or "").splitlines():
            words = line.strip().split(" ", 3)
            # `set interfaces NAME …`, and `deactivate interfaces NAME …` for inactive statements.
            if len(words) >= 3 and words[1] == "interfaces" and words[2] in wanted:
                ports[words[2]].append(line.strip())
            elif len(words) >= 3 and words[1] == "interfaces" and words[2] in by_lag:
                ports[by_lag[words[2]]].append(line.strip())
            elif (port := junos_bgp.owner(line.strip(), by_bgp_name)) is not None:
                ports[port].append(line.strip())
        return ports

    @contextmanager
    def _session(self, target: SwitchTarget, result: PushResult) -> Iterator[Any]:
        if target.host_key_fingerprint:
            # Check the pinned key before our password goes anywhere.
            seen = _probe_host_key(target)
            _check_pin(target, seen)
        dev = Device(host=target.host, port=target.port, user=target.username, password=target.password,
                     gather_facts=False, conn_open_timeout=max(1, int(target.connect_timeout)),
                     look_for_keys=False, allow_agent=False, hostkey_verify=False)
        try:
            dev.open()
        except Exception as exc:
            raise _translate(exc, "connect", target) from exc
        try:
            dev.timeout = max(1, int(target.rpc_timeout))
            seen = _session_host_key(dev)
            if target.host_key_fingerprint:
                _check_pin(target, seen)
            result.host_key_fingerprint = seen
            yield dev
        finally:
            with suppress(Exception):
                dev.timeout = CLEANUP_TIMEOUT
                dev.close()

    def _clean_up(self, dev: Any, cu: Any, *, locked: bool, revert: bool) -> None:
        """Best effort, each call bounded: undo the commit we could not verify, drop the candidate, unlock."""
        with suppress(Exception):
            dev.timeout = CLEANUP_TIMEOUT
        if revert:
            try:
                cu.rollback(1)
                cu.commit(comment="metalyard: revert of an unverified push")
            except Exception:
                log.warning("could not revert an unverified commit; the switch rolls it back when the confirm window ends", exc_info=True)
        for action in (cu.rollback, cu.unlock) if locked else (cu.rollback,):
            try:
                action()
            except Exception:
                log.debug("clean-up step %s failed (the session end releases it)", action.__name__, exc_info=True)


def vlan_name(vid: int) -> str:
    return f"metalyard-vlan{int(vid)}"


def lag_name(port: str) -> str:
    """The LACP bundle named after a physical port: FPC × 1000 + PIC × 100 + port (xe-0/0/10 → ae10, et-1/1/2 → ae1102).
    The switch's `chassis aggregated-devices ethernet device-count` must exceed the highest one in use."""
    found = PHYSICAL_PORT.match(port)
    if not found:
        raise SwitchRejected(f"'{port}' is not a physical port; only those are bundled.")
    fpc, pic, number = (int(found.group(i)) for i in (1, 2, 3))
    return f"ae{fpc * 1000 + pic * 100 + number}"


def _trunk(prefix: str, intent: PortIntent) -> list[str]:
    lines = []
    if intent.native_vlan is not None:
        lines.append(f"{prefix} native-vlan-id {int(intent.native_vlan)}")
    switching = f"{prefix} unit {UNIT} family ethernet-switching"
    lines.append(f"{switching} interface-mode trunk")
    lines.extend(f"{switching} vlan members {vlan_name(vid)}" for vid in sorted(set(intent.vlans)))
    return lines


def _addresses(intent: PortIntent, version: int) -> list[str]:
    out = []
    for text in intent.addresses:
        iface = ipaddress.ip_interface(text)
        if iface.version == version:
            out.append(iface.with_prefixlen)
    return out


def _hard_close(dev: Any) -> None:
    """Drop the SSH connection without a <close-session/> that a stuck switch would not answer."""
    dev.connected = False
    with suppress(Exception):
        dev._conn._session.close()


def _log_text(text: str) -> str:
    return safe_description(text)[:180]


def _probe_host_key(target: SwitchTarget) -> str:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=target.connect_timeout)
    except OSError as exc:
        raise SwitchUnreachable(f"Cannot reach {target.hostname} at {target.host}:{target.port}: {exc}. Check the management address and port.",
                                step="connect") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=target.connect_timeout)
        return fingerprint_of(transport.get_remote_server_key())
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SwitchUnreachable(f"SSH handshake with {target.hostname} failed: {exc}", step="connect") from exc
    finally:
        transport.close()


def _session_host_key(dev: Any) -> str:
    try:
        return fingerprint_of(dev._conn._session._transport.get_remote_server_key())
    except AttributeError:  # a transport that is not SSH (none is used here)
        return ""


def _check_pin(target: SwitchTarget, seen: str) -> None:
    if seen != target.host_key_fingerprint:
        raise SwitchHostKeyMismatch(
            f"{target.hostname} presented host key {seen}, but {target.host_key_fingerprint} is pinned. Nothing was sent. "
            "If the switch (or its routing engine) was replaced, clear the switch's host key fingerprint in the admin to pin the new key.",
            step="connect")


def _rpc_message(exc: Exception) -> str:
    message = getattr(exc, "message", None) or ""
    errs = getattr(exc, "errs", None)
    if isinstance(errs, list) and errs:
        message = "; ".join(str(e.get("message") or "").strip() for e in errs if isinstance(e, dict)) or message
    return (message or str(exc)).strip()


def _translate(exc: Exception, step: str, target: SwitchTarget) -> SwitchError:
    """junos-eznc's exceptions → ours, with what to do next."""
    where = f"{target.hostname} ({target.host}:{target.port})"
    if isinstance(exc, SwitchError):
        return exc
    if isinstance(exc, ez.ConnectAuthError):
        return SwitchAuthFailed(f"{where} refused the login of '{target.username}'. Check the switch's username and password in Metalyard.", step=step)
    if isinstance(exc, ez.ConnectClosedError):
        return SwitchSessionLost(f"The session to {where} ended during '{step}'. If a confirmed commit was made, the switch rolls it back itself; "
                                 "the push is retried later.", step=step)
    if isinstance(exc, ez.ConnectError):
        return SwitchUnreachable(f"Cannot open NETCONF to {where}: {exc.__class__.__name__}. Check the management address, port and that "
                                 "`set system services netconf ssh` is configured.", step=step)
    if isinstance(exc, ez.RpcTimeoutError):
        return SwitchTimeout(f"{where} did not answer '{step}' within {target.rpc_timeout:.0f} s.", step=step)
    if isinstance(exc, ez.LockError):
        if exc.rsp is None:  # junos-eznc turns a timed-out lock into a LockError without a reply
            return SwitchTimeout(f"{where} did not answer the lock request within {target.rpc_timeout:.0f} s.", step=step)
        return SwitchBusy(f"The configuration of {where} is locked by another session: {_rpc_message(exc)}. The push is retried later.", step=step)
    if isinstance(exc, (ez.ConfigLoadError, ez.CommitError)):
        return SwitchRejected(f"{where} rejected the configuration at '{step}': {_rpc_message(exc)}", step=step)
    if isinstance(exc, ez.RpcError):
        return SwitchError(f"{where} answered '{step}' with an error: {_rpc_message(exc)}", step=step)
    if isinstance(exc, (OSError, EOFError, paramiko.SSHException)):
        return SwitchSessionLost(f"The connection to {where} failed during '{step}': {exc}", step=step)
    return SwitchError(f"Unexpected failure talking to {where} during '{step}': {exc!r}", step=step)
