"""The switch driver interface: vendor-neutral port intents in, a vendor's configuration transaction out.

A driver renders `PortIntent`s into its vendor's configuration, applies them in one transaction with
`apply()` and reads what a switch runs with `running_ports()`. Errors are typed: `retryable` ones
(unreachable, busy, timed out, session lost) are worth another try later; the others need a human.
A second vendor is one new module here plus one line in `DRIVERS`.
"""
from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class PortMode(StrEnum):
    PROVISIONED = "provisioned"  # a routed interface: the gateway side of the server's /31s and /127
    ISOLATED = "isolated"  # no addresses, administratively down: a free, cleaning or broken server
    LAYER2 = "layer2"  # a trunk carrying the customer's VLANs (tagged; one may be native/untagged)


@dataclass(frozen=True)
class BgpPeer:
    """One customer BGP session on a port: the customer's address, and what the switch accepts from it."""

    family: int  # 4 or 6
    neighbor: str  # the customer's side of the link
    prefixes: tuple[str, ...] = ()  # accepted at exactly these lengths; everything else is rejected
    default_route: bool = False  # the switch sends the customer a default route


@dataclass(frozen=True)
class BgpIntent:
    local_as: int  # the switch's
    peer_as: int  # the customer's
    peers: tuple[BgpPeer, ...] = ()
    max_prefix: int = 10
    # The TCP MD5 password, in memory only (decrypted from the project's configuration for the push).
    md5: str = field(default="", repr=False)


@dataclass(frozen=True)
class PortIntent:
    """What one switch port should be, independent of vendor."""

    name: str
    mode: PortMode
    description: str
    mtu: int | None = None
    # Interface addresses of the switch side, with the prefix length of the link ("203.0.113.0/31").
    addresses: tuple[str, ...] = ()
    bgp: BgpIntent | None = None
    vlans: tuple[int, ...] = ()  # layer2: the VLAN ids the trunk carries
    native_vlan: int | None = None  # layer2: the one carried untagged (also in `vlans`)
    # layer2: the LACP bundle (aggregated Ethernet) this port is a member of. A bundle is named after its first
    # member, whose intent also carries the bundle's trunk (`vlans`, `native_vlan`); the other members carry none.
    lag: str = ""


@dataclass(frozen=True)
class SwitchVlans:
    """The switch-wide VLAN definitions a push keeps (every VLAN a managed port uses) and removes (no longer used)."""

    present: tuple[int, ...] = ()
    absent: tuple[int, ...] = ()


@dataclass(frozen=True)
class SwitchTarget:
    """How to reach one switch's management plane."""

    hostname: str
    host: str
    port: int
    username: str
    password: str
    host_key_fingerprint: str = ""  # "SHA256:…"; empty: learn it on first connect
    connect_timeout: float = 10.0
    rpc_timeout: float = 60.0


@dataclass
class PushResult:
    changed: bool  # the candidate differed from the running configuration
    committed: bool
    diff: str = ""
    host_key_fingerprint: str = ""
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds), in order


class SwitchError(Exception):
    """A switch operation failed. `retryable` says whether trying again later may help."""

    retryable = False

    def __init__(self, message: str, *, step: str = "") -> None:
        self.step = step
        super().__init__(message)


class SwitchUnreachable(SwitchError):
    retryable = True


class SwitchTimeout(SwitchError):
    retryable = True


class SwitchBusy(SwitchError):
    """Someone else holds the configuration lock."""

    retryable = True


class SwitchSessionLost(SwitchError):
    """The session ended under us; a confirmed commit that was not confirmed rolls itself back."""

    retryable = True


class SwitchAuthFailed(SwitchError):
    pass


class SwitchHostKeyMismatch(SwitchError):
    pass


class SwitchRejected(SwitchError):
    """The switch refused the configuration (load, commit check or commit)."""


class SwitchVerifyFailed(SwitchError):
    """After the commit the running configuration did not hold the desired lines."""


class SwitchDriver(abc.ABC):
    vendor: str = ""

    @abc.abstractmethod
    def render(self, intents: Sequence[PortIntent], vlans: SwitchVlans | None = None) -> list[str]:
        """The configuration that makes each port exactly its intent (replacing what was there), and the
        switch's VLAN definitions `vlans`."""

    @abc.abstractmethod
    def expected_lines(self, intent: PortIntent) -> list[str]:
        """The port's running configuration once the intent is applied, as `running_ports()` reports it."""

    @abc.abstractmethod
    def apply(self, target: SwitchTarget, intents: Sequence[PortIntent], *, comment: str, confirm_minutes: int,
              on_diff: Callable[[str], None] | None = None, vlans: SwitchVlans | None = None) -> PushResult:
        """One transaction: lock, load, check, diff, commit confirmed, verify, confirm, unlock.

        Commits nothing when the switch already runs the intents. `on_diff` is called with the diff
        before anything is committed. On any failure the candidate is rolled back and the lock released."""

    def mask_secrets(self, lines: Sequence[str]) -> list[str]:
        """`lines` with any secret (a BGP password) replaced, for storing in push records and drift reports."""
        return list(lines)

    @abc.abstractmethod
    def running_ports(self, target: SwitchTarget, names: Sequence[str]) -> tuple[dict[str, list[str]], str]:
        """The committed configuration of each named port (lines, empty when unconfigured) and the host key seen."""


    def bgp_neighbor_states(self, target: SwitchTarget) -> dict[str, tuple[str, int]]:
        """Each BGP neighbor the switch has: its address → (state as the vendor names it, accepted prefixes)."""
        raise SwitchError(f"The {self.vendor or 'switch'} driver cannot read BGP neighbors.")


DRIVERS = {
    "junos": "apps.network.drivers.junos.JunosDriver",
}


def driver_for(os_name: str) -> SwitchDriver:
    try:
        dotted = DRIVERS[os_name]
    except KeyError:
        raise SwitchError(f"No switch driver for OS '{os_name}'. Known: {', '.join(sorted(DRIVERS))}.") from None
    module, _, cls = dotted.rpartition(".")
    return getattr(importlib.import_module(module), cls)()
