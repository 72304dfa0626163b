"""Every write of the network app: desired port state, pushes to switches, drift records, re-apply.

For the installs workflow:

- `port_configure_for_server(server=…, actor=…, reason=…)` sets the desired state of every switch
  port cabled to the server from the model — provisioned (routed, the gateway side of the server's
  public /31, private /31 and /127) while the server is allocated, provisioning or active and holds
  addresses; isolated otherwise — and schedules one push per switch after the transaction commits.
  It returns a `PortChange`; `port_change_wait(change, timeout=…)` blocks (bounded) until the
  switches run it or a push fails, and returns a `ChangeOutcome`.
- `port_configure_for_server_sync(…)` does the same but pushes in the calling process (call it
  outside any transaction, e.g. from an install task) and returns the `ChangeOutcome` directly.

Pushes are coalesced: one push at a time per switch (a lease row in `SwitchSync`), and a push takes
every pending port of its switch into one commit. Changes that arrive while a push runs are picked
up by that push's next round. A change that schedules nothing (same desired state) pushes nothing.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.hardware.models import Server, Switch, SwitchPort
from apps.ipam.selectors import server_addresses
from apps.network.drivers import (
    BgpIntent,
    BgpPeer,
    PortIntent,
    PortMode,
    SwitchDriver,
    SwitchError,
    SwitchSessionLost,
    SwitchTarget,
    SwitchTimeout,
    SwitchVlans,
    driver_for,
)
from apps.network.models import PORT_MODES, BgpConfig, BgpSession, ConfigPush, PortConfig, PortDrift, PortLayer, PushOutcome, SwitchSync
from apps.network.port_plan import server_port_plan
from project.tasks import enqueue_for_facility

log = logging.getLogger(__name__)

MAX_PUSH_ROUNDS = 5
WAIT_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class PortChange:
    """The desired versions a change asked for: (port config id, desired version) per port."""

    versions: tuple[tuple[int, int], ...] = ()
    switch_ids: tuple[int, ...] = ()
    changed: bool = False  # False: the desired state was already this, nothing was scheduled
    at: dt.datetime = field(default_factory=timezone.now)


@dataclass
class ChangeOutcome:
    done: bool  # every port runs (at least) the version the change asked for
    failed: bool = False
    timed_out: bool = False
    error: str = ""
    pushes: list[ConfigPush] = field(default_factory=list)


class NotOutsideTransaction(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- desired state


@transaction.atomic
def port_config_set(*, port: SwitchPort, mode: str, description: str = "", mtu: int | None = None, addresses: Sequence[str] = (),
                    server: Server | None = None, actor: Any = None, reason: str = "", schedule: bool = True,
                    bgp: dict[str, Any] | None = None, vlans: Sequence[int] = (), native_vlan: int | None = None,
                    lag: str = "") -> tuple[PortConfig, bool]:
    """Set one port's desired state. Returns (config, changed); an unchanged state bumps nothing and pushes nothing."""
    if mode not in PORT_MODES:
        raise ValueError(f"Unknown port mode '{mode}'; use one of {', '.join(PORT_MODES)}.")
    normalized = [ipaddress.ip_interface(a).with_prefixlen for a in addresses]
    if mode == PortMode.ISOLATED and normalized:
        raise ValueError("An isolated port carries no addresses.")
    if mode != PortMode.PROVISIONED and (bgp or normalized):
        raise ValueError("Only a routed port carries addresses and BGP sessions.")
    if mode != PortMode.LAYER2 and (vlans or native_vlan):
        raise ValueError("Only a Layer 2 port carries VLANs.")
    wanted = {"mode": mode, "description": description[:200], "mtu": mtu, "addresses": normalized, "server_id": server.pk if server else None,
              "bgp": bgp or {}, "vlans": sorted(set(vlans)), "native_vlan": native_vlan, "lag": lag if mode == PortMode.LAYER2 else ""}
    config = PortConfig.objects.select_for_update().filter(port=port).first()
    if config is not None and all(getattr(config, k) == v for k, v in wanted.items()):
        return config, False
    before = {k: getattr(config, k) for k in wanted} if config else {}
    if config is None:
        config = PortConfig(port=port, switch_id=port.switch_id, desired_version=1, **wanted)
    else:
        for name, value in wanted.items():
            setattr(config, name, value)
        config.desired_version = F("desired_version") + 1
    config.change_reason = reason[:500]
    config.changed_at = timezone.now()
    config.save()
    config.refresh_from_db()
    event = audit_record(action="network.port.desired", target=config,
                         changes={k: [before.get(k), v] for k, v in wanted.items() if before.get(k) != v} | {"version": [None, config.desired_version]},
                         reason=reason, actor=actor)
    # The audit resolved who acted (an explicit actor, else the request's or task's); the push shows it.
    PortConfig.objects.filter(pk=config.pk).update(changed_by=event.actor_name[:200])
    config.changed_by = event.actor_name[:200]
    if schedule:
        schedule_push(port.switch_id)
    return config, True


def port_configure_for_server(*, server: Server, actor: Any = None, reason: str = "", schedule: bool = True) -> PortChange:
    """Mark the server's cabled ports' desired state from the model; push after commit (see module doc)."""
    at = timezone.now()
    with transaction.atomic():
        # The server row lock orders concurrent calls for one server (state change vs. reconfigure).
        server = Server.objects.select_for_update().get(pk=server.pk)
        _customer_network_drop_stale(server, actor=actor)
        versions, switches, changed = [], set(), False
        for port, spec in server_port_plan(server):
            config, did_change = port_config_set(port=port, server=server, actor=actor, reason=reason, schedule=schedule, **spec)
            versions.append((config.pk, config.desired_version))
            switches.add(port.switch_id)
            changed = changed or did_change
    return PortChange(versions=tuple(versions), switch_ids=tuple(sorted(switches)), changed=changed, at=at)


def port_configure_for_server_sync(*, server: Server, actor: Any = None, reason: str = "", timeout: float | None = None) -> ChangeOutcome:
    """`port_configure_for_server` with the push done here and now; returns how it went."""
    if connection.in_atomic_block:
        raise NotOutsideTransaction("port_configure_for_server_sync pushes to switches: call it outside a transaction "
                                    "(or use port_configure_for_server, which pushes after commit).")
    change = port_configure_for_server(server=server, actor=actor, reason=reason, schedule=False)
    for switch_id in change.switch_ids:
        switch_push(switch_id=switch_id)
    return port_change_wait(change, timeout=timeout)


def port_change_wait(change: PortChange, *, timeout: float | None = None) -> ChangeOutcome:
    """Wait (bounded) until every port of `change` runs its version, or a push after the change failed."""
    if timeout is None:
        timeout = 2 * settings.SWITCH_CONNECT_TIMEOUT + 12 * settings.SWITCH_RPC_TIMEOUT
    wanted = dict(change.versions)
    deadline = time.monotonic() + timeout
    since = change.at
    while True:
        applied = dict(PortConfig.objects.filter(pk__in=wanted).values_list("pk", "applied_version"))
        remaining = [pk for pk, version in wanted.items() if applied.get(pk, 0) < version]
        pushes = list(ConfigPush.objects.filter(switch_id__in=change.switch_ids, started_at__gte=since).order_by("started_at", "pk"))
        if not remaining:
            return ChangeOutcome(done=True, pushes=pushes)
        failed = [p for p in pushes if p.outcome == PushOutcome.FAILED and p.ports and
                  PortConfig.objects.filter(pk__in=remaining, port__name__in=p.ports, switch_id=p.switch_id).exists()]
        if failed:
            return ChangeOutcome(done=False, failed=True, error=failed[-1].error, pushes=pushes)
        if time.monotonic() >= deadline:
            return ChangeOutcome(done=False, timed_out=True, pushes=pushes,
                                 error=f"{len(remaining)} port(s) not applied after {timeout:.0f} s; see the switch's pushes in the admin.")
        time.sleep(WAIT_POLL_SECONDS)


@transaction.atomic
def switch_reapply(*, switch: Switch, actor: Any = None, reason: str = "", ports: Iterable[SwitchPort] | None = None, schedule: bool = True) -> int:
    """Push the desired state of the switch's managed ports again (after drift or a failure). Returns how many."""
    configs = PortConfig.objects.select_for_update().filter(switch=switch)
    if ports is not None:
        configs = configs.filter(port__in=list(ports))
    ids = list(configs.values_list("pk", flat=True))
    event = audit_record(action="network.switch.reapply", target=switch, changes={"ports": [None, len(ids)]}, reason=reason, actor=actor)
    PortConfig.objects.filter(pk__in=ids).update(desired_version=F("desired_version") + 1, changed_by=event.actor_name[:200],
                                                 change_reason=(reason or "re-apply")[:500], changed_at=timezone.now())
    SwitchSync.objects.filter(pk=switch.pk).update(next_attempt_at=None)
    if ids and schedule:
        schedule_push(switch.pk)
    return len(ids)


# ---------------------------------------------------------------------------------------------- scheduling


class _PushAfterCommit:
    """An on_commit callback that knows its switch, so one transaction schedules one push per switch."""

    def __init__(self, switch_id: int) -> None:
        self.switch_id = switch_id
        self.done = False

    def __call__(self) -> None:
        self.done = True
        enqueue_push(self.switch_id)


def schedule_push(switch_id: int) -> None:
    """Push the switch's pending ports once the current transaction commits (at once outside one)."""
    # Django keeps the callbacks of the current transaction in `run_on_commit` (and drops those of a
    # rolled-back savepoint), so 40 port changes in one transaction register one push, not 40.
    for _, callback, *_ in getattr(connection, "run_on_commit", []):
        if isinstance(callback, _PushAfterCommit) and callback.switch_id == switch_id and not callback.done:
            return
    transaction.on_commit(_PushAfterCommit(switch_id))


def switch_drift_check_request(*, switch_ids: list[int]) -> int:
    """Queue a drift check of each switch on its facility's workers, once the caller commits."""
    switches = list(Switch.objects.filter(pk__in=switch_ids).values_list("pk", "facility__code"))
    for switch_id, code in switches:
        transaction.on_commit(lambda switch_id=switch_id, code=code: enqueue_for_facility(
            "apps.network.tasks.drift_check", switch_id, facility_code=code, task_name=f"network.drift.{switch_id}",
            group="network.drift"))
    return len(switches)


def enqueue_push(switch_id: int, *, attempt: int = 1) -> bool:
    """Queue a push task for the switch unless one is queued and not started yet. Returns whether it queued."""
    SwitchSync.objects.get_or_create(switch_id=switch_id)
    now = timezone.now()
    # A flag older than the lease time means its task was lost (a broker flushed, a worker killed): queue anew.
    stale = now - dt.timedelta(seconds=settings.SWITCH_PUSH_LEASE_SECONDS)
    free = Q(push_queued_at__isnull=True) | Q(push_queued_at__lt=stale)
    claimed = SwitchSync.objects.filter(free, pk=switch_id).update(push_queued_at=now)
    if not claimed:
        return False
    code = Switch.objects.filter(pk=switch_id).values_list("facility__code", flat=True).first()
    enqueue_for_facility("apps.network.tasks.push_switch", switch_id, attempt, facility_code=code,
                         task_name=f"network.push.{switch_id}", group="network.push")
    return True


# ---------------------------------------------------------------------------------------------- the push


def _lease_acquire(switch_id: int, owner: str) -> bool:
    SwitchSync.objects.get_or_create(switch_id=switch_id)
    now = timezone.now()
    until = now + dt.timedelta(seconds=settings.SWITCH_PUSH_LEASE_SECONDS)
    taken = (SwitchSync.objects.filter(pk=switch_id).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
             .update(lease_owner=owner, lease_until=until))
    return taken == 1


def _lease_release(switch_id: int, owner: str) -> None:
    SwitchSync.objects.filter(pk=switch_id, lease_owner=owner).update(lease_owner="", lease_until=None)


def switch_target(switch: Switch) -> SwitchTarget:
    return SwitchTarget(hostname=switch.hostname, host=switch.mgmt_host, port=switch.mgmt_port, username=switch.username,
                        password=switch.password, host_key_fingerprint=switch.host_key_fingerprint,
                        connect_timeout=settings.SWITCH_CONNECT_TIMEOUT, rpc_timeout=settings.SWITCH_RPC_TIMEOUT)


def port_intent(config: PortConfig) -> PortIntent:
    return PortIntent(name=config.port.name, mode=PortMode(config.mode), description=config.description, mtu=config.mtu,
                      addresses=tuple(config.addresses), bgp=_bgp_intent(config.bgp), vlans=tuple(config.vlans), native_vlan=config.native_vlan,
                      lag=config.lag)


def _bgp_intent(spec: dict[str, Any]) -> BgpIntent | None:
    """The port's BGP from its desired state; the password is decrypted from the project's configuration here."""
    if not spec:
        return None
    md5 = ""
    if spec.get("md5"):
        config = BgpConfig.objects.filter(pk=spec["config"]).only("md5").first()
        md5 = config.md5 if config else ""
    peers = tuple(BgpPeer(family=p["family"], neighbor=p["neighbor"], prefixes=tuple(p["prefixes"]), default_route=p.get("default_route", False))
                  for p in spec.get("peers", []))
    return BgpIntent(local_as=spec["local_as"], peer_as=spec["peer_as"], peers=peers, max_prefix=spec.get("max_prefix", 10), md5=md5)


def _customer_network_drop_stale(server: Server, *, actor: Any) -> None:
    """BGP sessions and Layer 2 choices of a device that no longer holds the server's addresses (deleted,
    deprovisioned) end with it: the server's next tenant starts from Layer 3, without them."""
    holders = {a.device_id for a in server_addresses(server) if a.device_id}
    for layer in PortLayer.objects.filter(interface__server=server).exclude(device_id__in=holders):
        audit_record(action="network.port.reset", target=layer, reason="the device no longer holds the server", actor=actor,
                     changes={"layer2": [layer.layer2, None], "device": [str(layer.device_id), None]})
        layer.delete()
    for session in BgpSession.objects.filter(server=server).exclude(device_id__in=holders):
        audit_record(action="network.bgp_session.delete", target=session, reason="the device no longer holds the server", actor=actor,
                     changes={"device": [str(session.device_id), None], "address_family": [session.address_family, None]})
        session.delete()


def switch_push(*, switch_id: int, attempt: int = 1) -> ConfigPush | None:
    """Apply every pending port change of one switch in one commit (then again for changes that came in
    meanwhile, bounded). Returns the last push made, or None when there was nothing to push or another
    push holds the switch — that push picks the pending changes up in its next round."""
    owner = uuid.uuid4().hex
    last: ConfigPush | None = None
    # From here on a new change queues a task of its own (see enqueue_push).
    SwitchSync.objects.filter(pk=switch_id).update(push_queued_at=None)
    for _ in range(MAX_PUSH_ROUNDS):
        if not _lease_acquire(switch_id, owner):
            return last
        try:
            push = _push_once(switch_id, attempt)
        finally:
            # Released before looking for more work: a change whose push found the lease taken is
            # committed before that attempt, so the next round here sees it.
            _lease_release(switch_id, owner)
        if push is None:
            return last
        last = push
        if push.outcome == PushOutcome.FAILED:
            return push
    return last


def _retry_delay(failures: int, error: SwitchError) -> dt.timedelta:
    if not error.retryable:
        return dt.timedelta(minutes=30)  # a human has to look; the sweep tries again now and then
    delay = min(60 * 2 ** (failures - 1), 1800)
    if isinstance(error, (SwitchTimeout, SwitchSessionLost)) and error.step in {"commit_confirmed", "verify", "confirm"}:
        # The switch may still hold an unconfirmed commit: let it roll back before we try again.
        delay = max(delay, settings.SWITCH_CONFIRM_MINUTES * 60 + 30)
    return dt.timedelta(seconds=delay)


def switch_vlans(switch_id: int) -> SwitchVlans:
    """Every VLAN a managed port of the switch wants, and those the last push left defined that none wants now."""
    wanted: set[int] = set()
    for vlans in PortConfig.objects.filter(switch_id=switch_id, mode=PortMode.LAYER2).values_list("vlans", flat=True):
        wanted.update(vlans)
    defined = set(SwitchSync.objects.filter(pk=switch_id).values_list("vlans", flat=True).first() or [])
    return SwitchVlans(present=tuple(sorted(wanted)), absent=tuple(sorted(defined - wanted)))


def _push_once(switch_id: int, attempt: int) -> ConfigPush | None:
    switch = Switch.objects.select_related("facility").get(pk=switch_id)
    pending = list(PortConfig.objects.filter(switch_id=switch_id, desired_version__gt=F("applied_version"))
                   .select_related("port").order_by("port__name"))
    if not pending:
        return None
    versions = {c.pk: c.desired_version for c in pending}
    who = sorted({c.changed_by for c in pending if c.changed_by})
    why = list(dict.fromkeys(c.change_reason for c in pending if c.change_reason))
    push = ConfigPush.objects.create(switch=switch, requested_by=", ".join(who)[:500], reason="; ".join(why)[:2000],
                                     ports=[c.port.name for c in pending], attempt=attempt)
    started = time.monotonic()
    try:
        driver = driver_for(switch.os)
        intents = [port_intent(c) for c in pending]
        vlans = switch_vlans(switch_id)
        ConfigPush.objects.filter(pk=push.pk).update(config="\n".join(driver.mask_secrets(driver.render(intents, vlans))))

        def on_diff(diff: str) -> None:
            # Stored before the commit, so staff see what is being committed even if the worker dies.
            ConfigPush.objects.filter(pk=push.pk).update(diff="\n".join(driver.mask_secrets(diff.split("\n"))))

        comment = f"metalyard push {push.pk}" + (f": {why[0]}" if why else "")
        result = driver.apply(switch_target(switch), intents, comment=comment, confirm_minutes=settings.SWITCH_CONFIRM_MINUTES,
                              on_diff=on_diff, vlans=vlans)
    except SwitchError as exc:
        return _push_failed(push, switch, exc, started)
    except Exception as exc:
        _push_failed(push, switch, SwitchError(f"Internal error during the push: {exc!r}"), started)
        raise
    return _push_succeeded(push, switch, driver, pending, versions, result, started, vlans)


def _push_failed(push: ConfigPush, switch: Switch, exc: SwitchError, started: float) -> ConfigPush:
    now = timezone.now()
    with transaction.atomic():
        sync = SwitchSync.objects.select_for_update().get(pk=switch.pk)
        sync.consecutive_failures += 1
        sync.next_attempt_at = now + _retry_delay(sync.consecutive_failures, exc)
        sync.last_push_at = now
        sync.save(update_fields=["consecutive_failures", "next_attempt_at", "last_push_at"])
        ConfigPush.objects.filter(pk=push.pk).update(outcome=PushOutcome.FAILED, error=str(exc), error_step=exc.step, retryable=exc.retryable,
                                                     finished_at=now, duration_ms=int((time.monotonic() - started) * 1000))
        push.refresh_from_db()
        audit_record(action="network.switch.push", target=push, actor=None, reason=push.reason,
                     changes={"switch": [None, switch.hostname], "outcome": [None, "failed"], "error": [None, str(exc)], "ports": [None, push.ports]})
    log.warning("push %s to %s failed at %s: %s", push.pk, switch.hostname, exc.step, exc)
    return push


def _push_succeeded(push: ConfigPush, switch: Switch, driver: SwitchDriver, pending: list[PortConfig], versions: dict[int, int],
                    result: Any, started: float, vlans: SwitchVlans) -> ConfigPush:
    now = timezone.now()
    outcome = PushOutcome.COMMITTED if result.committed else PushOutcome.UNCHANGED
    with transaction.atomic():
        for config in pending:
            PortConfig.objects.filter(pk=config.pk, applied_version__lt=versions[config.pk]).update(
                applied_version=versions[config.pk], applied_at=now, running=driver.mask_secrets(driver.expected_lines(port_intent(config))),
                running_read_at=now)
        PortDrift.objects.filter(port_id__in=[c.port_id for c in pending], resolved_at__isnull=True).update(
            resolved_at=now, resolution="re-applied" if result.committed else "matches again", resolved_by_push=push)
        SwitchSync.objects.filter(pk=switch.pk).update(consecutive_failures=0, next_attempt_at=None, last_push_at=now, vlans=list(vlans.present))
        ConfigPush.objects.filter(pk=push.pk).update(outcome=outcome, committed=result.committed, diff="\n".join(driver.mask_secrets(result.diff.split("\n"))),
                                                     steps=result.steps,
                                                     finished_at=now, duration_ms=int((time.monotonic() - started) * 1000))
        if result.host_key_fingerprint and not switch.host_key_fingerprint:
            # Trust on first use: from now on a different key is refused before we log in.
            Switch.objects.filter(pk=switch.pk, host_key_fingerprint="").update(host_key_fingerprint=result.host_key_fingerprint)
            audit_record(action="network.switch.hostkey_pinned", target=switch,
                         changes={"host_key_fingerprint": ["", result.host_key_fingerprint]}, reason="first connection")
        push.refresh_from_db()
        audit_record(action="network.switch.push", target=push, actor=None, reason=push.reason,
                     changes={"switch": [None, switch.hostname], "outcome": [None, outcome], "ports": [None, push.ports]})
    return push


# ---------------------------------------------------------------------------------------------- drift


@dataclass
class DriftReport:
    checked: int = 0
    drifted: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    skipped: str = ""
    error: str = ""


def switch_drift_check(*, switch_id: int) -> DriftReport:
    """Read the switch's managed ports and record where they differ from the desired state."""
    switch = Switch.objects.get(pk=switch_id)
    report = DriftReport()
    SwitchSync.objects.get_or_create(switch_id=switch_id)
    before = {c.pk: (c.desired_version, c.applied_version) for c in PortConfig.objects.filter(switch_id=switch_id)}
    if not before:
        report.skipped = "no managed ports"
        return report
    if SwitchSync.objects.filter(pk=switch_id, lease_until__gte=timezone.now()).exists():
        report.skipped = "a push is running"
        return report
    driver = driver_for(switch.os)
    configs = list(PortConfig.objects.filter(pk__in=before).select_related("port"))
    now = timezone.now()
    try:
        running, _ = driver.running_ports(switch_target(switch), [c.port.name for c in configs])
    except SwitchError as exc:
        SwitchSync.objects.filter(pk=switch_id).update(last_drift_check_at=now, last_drift_error=str(exc))
        report.error = str(exc)
        return report
    # Judge only ports that no push touched while we read: a port pushed meanwhile is not drift.
    after = {c.pk: (c.desired_version, c.applied_version) for c in PortConfig.objects.filter(pk__in=before)}
    pushing = SwitchSync.objects.filter(pk=switch_id, lease_until__gte=timezone.now()).exists()
    with transaction.atomic():
        for config in configs:
            lines = driver.mask_secrets(running.get(config.port.name, []))
            PortConfig.objects.filter(pk=config.pk).update(running=lines, running_read_at=now)
            settled = before[config.pk] == after.get(config.pk) and not config.pending and not pushing
            if not settled:
                continue
            report.checked += 1
            intent = port_intent(config)
            problems = driver.differences([intent], {config.port.name: lines})
            open_drift = PortDrift.objects.select_for_update().filter(port_id=config.port_id, resolved_at__isnull=True).first()
            if problems:
                report.drifted.append(config.port.name)
                summary = "; ".join(problems)
                if open_drift is None:
                    drift = PortDrift.objects.create(port_id=config.port_id, switch_id=switch_id, expected=driver.mask_secrets(driver.expected_lines(intent)),
                                                     running=lines, summary=summary)
                    audit_record(action="network.port.drift", target=drift, changes={"running": [None, lines]}, reason=summary)
                else:
                    PortDrift.objects.filter(pk=open_drift.pk).update(running=lines, summary=summary, last_seen_at=now)
            elif open_drift is not None:
                report.resolved.append(config.port.name)
                PortDrift.objects.filter(pk=open_drift.pk).update(resolved_at=now, resolution="matches again")
        SwitchSync.objects.filter(pk=switch_id).update(last_drift_check_at=now, last_drift_error="")
    return report
