"""django-q2 entry points of the network app: thin wrappers that load by id and call a service.

`reconcile` (every minute) and `drift_check_all` (every METALYARD_SWITCH_DRIFT_CHECK_MINUTES) are
scheduled by the app's migration; each fans out one task per switch to the switch's facility cluster
when one is configured (Q_CLUSTER["ALT_CLUSTERS"]), so the worker that reaches a switch runs there.
"""
from __future__ import annotations

from django.db.models import F, Q
from django.utils import timezone

from apps.hardware.models import Switch
from apps.network import bgp, services, vlan_batches
from apps.network.models import PortConfig, SwitchSync
from project.tasks import enqueue_for_facility


def push_switch(switch_id: int, attempt: int = 1) -> str:
    push = services.switch_push(switch_id=switch_id, attempt=attempt)
    if push is None:
        return "nothing to push (or another push holds the switch and takes these changes)"
    return f"push #{push.pk}: {push.outcome}" + (f" ({push.error})" if push.error else "")


def reconcile() -> str:
    """Push every switch that has pending ports, no push running and no back-off in force: catches
    changes whose push failed or whose task was lost, without hammering a broken switch."""
    now = timezone.now()
    pending = set(PortConfig.objects.filter(desired_version__gt=F("applied_version")).values_list("switch_id", flat=True).distinct())
    blocked = set(SwitchSync.objects.filter(Q(next_attempt_at__gt=now) | Q(lease_until__gt=now), switch_id__in=pending)
                  .values_list("switch_id", flat=True))
    due = sorted(pending - blocked)
    queued = 0
    for switch_id in due:
        attempt = (SwitchSync.objects.filter(pk=switch_id).values_list("consecutive_failures", flat=True).first() or 0) + 1
        queued += services.enqueue_push(switch_id, attempt=attempt)
    return f"{queued} switch(es) with pending ports queued, {len(due) - queued} already queued, {len(blocked)} waiting"


def drift_check(switch_id: int) -> str:
    """The switch's drift, and its customer BGP sessions' live status (both read from the switch)."""
    sessions = bgp.bgp_session_status_refresh(switch_id=switch_id)
    report = services.switch_drift_check(switch_id=switch_id)
    if report.skipped or report.error:
        return report.skipped or report.error
    summary = f"{report.checked} port(s) checked, {len(report.drifted)} drifted, {len(report.resolved)} back in line"
    return summary + (f"; {sessions} BGP session(s) read" if sessions else "")


def drift_check_all() -> str:
    switches = list(Switch.objects.filter(port_configs__isnull=False).distinct().values_list("pk", "facility__code"))
    for switch_id, code in switches:
        enqueue_for_facility("apps.network.tasks.drift_check", switch_id, facility_code=code,
                             task_name=f"network.drift.{switch_id}", group="network.drift")
    return f"{len(switches)} switch(es) queued for a drift check"


def vlan_batch_run(batch_id: str) -> str:
    batch = vlan_batches.vlan_batch_run(batch_id)
    return f"VLAN batch {batch.pk}: {batch.state}" + (f" ({'; '.join(batch.error_messages)})" if batch.error_messages else "")
