"""django-q2 entry points for BMC work, and the routing of device work to each facility's cluster:
a facility's BMCs are reachable only from inside it, so its tasks run on the cluster named by its
code when that cluster is configured (Q_CLUSTER['ALT_CLUSTERS'], METALYARD_FACILITY_CLUSTERS),
else on the default cluster (one cluster, as in `make run`)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django_q.models import Schedule
from django_q.tasks import async_task

from apps.audit.context import acting_as
from apps.hardware import power
from apps.hardware.models import Server


def facility_cluster(facility_code: str | None) -> str | None:
    """The django-q2 cluster for a facility's device work, or None for the default cluster."""
    clusters = settings.Q_CLUSTER.get("ALT_CLUSTERS") or {}
    return facility_code if facility_code and facility_code in clusters else None


def enqueue_for_facility(func: str, *args: Any, facility_code: str | None, **kwargs: Any) -> str:
    """async_task routed to the facility's cluster. Call from transaction.on_commit."""
    cluster = facility_cluster(facility_code)
    if cluster is not None:
        kwargs["cluster"] = cluster
    return async_task(func, *args, **kwargs)


def _actor(actor_id: int | None) -> Any:
    return get_user_model().objects.filter(pk=actor_id).first() if actor_id else None


def power_action_task(server_id: str, action: str, actor_id: int | None = None, source: str = "task") -> dict:
    server = Server.objects.select_related("facility").get(pk=server_id)
    actor = _actor(actor_id)
    with acting_as(actor):
        event = power.server_power(server=server, action=action, actor=actor, source=source)
    return {"server": server_id, "action": action, "outcome": event.outcome, "attempt": event.attempt,
            "duration_ms": event.duration_ms, "worker": event.worker}


def power_state_sync_task(facility_code: str | None = None) -> dict:
    return power.power_state_sync(facility_code=facility_code).as_dict()


def power_sync_schedule(*, minutes: int | None = None) -> list[Schedule]:
    """One repeating power-state sync per facility that has BMCs, each on its facility's cluster."""
    from apps.facilities.models import Facility

    minutes = minutes or settings.BMC_SYNC_MINUTES
    schedules = []
    for code in Facility.objects.filter(servers__bmc__isnull=False).values_list("code", flat=True).distinct().order_by("code"):
        schedule, _ = Schedule.objects.update_or_create(
            name=f"power-state sync {code}",
            defaults={
                "func": "apps.hardware.tasks.power_state_sync_task",
                "args": repr((code,)),
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
                "cluster": facility_cluster(code),
            },
        )
        schedules.append(schedule)
    return schedules
