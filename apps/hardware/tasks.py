"""django-q2 entry points for BMC work: take ids, call the hardware app. They run on the facility's
cluster (project.tasks routes them there)."""
from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule

from apps.audit.context import acting_as
from apps.facilities.models import Facility
from apps.hardware import power
from apps.hardware.models import Server
from project.tasks import facility_cluster, task_actor


def power_action_task(server_id: str, action: str, actor_id: int | None = None, source: str = "task") -> dict:
    server = Server.objects.select_related("facility").get(pk=server_id)
    actor = task_actor(actor_id)
    with acting_as(actor):
        event = power.server_power(server=server, action=action, actor=actor, source=source)
    return {"server": server_id, "action": action, "outcome": event.outcome, "attempt": event.attempt,
            "duration_ms": event.duration_ms, "worker": event.worker}


def power_state_sync_task(facility_code: str | None = None, server_ids: list[str] | None = None, source: str = "sync") -> dict:
    return power.power_state_sync(facility_code=facility_code, server_ids=server_ids, source=source).as_dict()


def power_sync_schedule(*, minutes: int | None = None) -> list[Schedule]:
    """One repeating power-state sync per facility that has BMCs, each on its facility's cluster."""
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
