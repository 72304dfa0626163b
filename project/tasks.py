"""Where device work runs: a facility's BMCs and switches are reachable only from inside it, so its
tasks run on the django-q2 cluster named by its code when that cluster is configured
(Q_CLUSTER['ALT_CLUSTERS'], METALYARD_FACILITY_CLUSTERS), else on the default cluster (one
cluster, as in `make run`). Every app routes its device tasks through `enqueue_for_facility()`."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django_q.tasks import async_task


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


def task_actor(actor_id: int | None) -> Any:
    """The user a task acts for (tasks take ids, not objects), or None for the platform itself."""
    return get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
