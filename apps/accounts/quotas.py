"""Quotas: how much of the shared pools (devices, public IPv4 addresses, IPv6 blocks) one project and one
organization may hold. Defaults come from settings (QUOTA_DEFAULTS); staff override them per organization
or project (`Quota` rows, set through `quota_set`/`quota_clear`, audited).

The apps that own what is counted (installs: devices; ipam: reservations) sit above accounts in the import
graph, so they register their usage counters here at startup (`quota_usage_register` in their
AppConfig.ready) and call `quota_check()` inside the transaction that allocates. `quota_check` locks the
organization's row first, so two allocations in one organization serialize: the second counts after the
first has committed (or rolled back), and no race lets two orders pass a limit of one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import Organization, Project, Quota, QuotaResource
from apps.audit.services import audit_record, diff, snapshot

# counter(project ids, a list or a subquery) -> how much of the resource those projects hold now.
UsageCounter = Callable[[Any], int]
_COUNTERS: dict[str, UsageCounter] = {}

UNITS = {QuotaResource.DEVICES: ("device", "devices"),
         QuotaResource.PUBLIC_IPV4_ADDRESSES: ("public IPv4 address", "public IPv4 addresses"),
         QuotaResource.IPV6_BLOCKS: ("IPv6 block", "IPv6 blocks")}


class QuotaExceeded(ValidationError):
    """The allocation would take a project or organization past one of its limits (the API answers 422)."""


def quota_usage_register(resource: str, counter: UsageCounter) -> None:
    """Register how `resource` is counted (called once per resource by the app that owns it)."""
    if resource not in QuotaResource.values:
        raise ValueError(f"Unknown quota resource '{resource}'.")
    _COUNTERS[resource] = counter


def quota_default(resource: str, scope: str) -> int:
    return int(settings.QUOTA_DEFAULTS[scope][resource])


def quota_limit(resource: str, *, project: Project | None = None, organization: Organization | None = None) -> int:
    """The limit in force for a project or an organization: its override, else the settings' default."""
    scope = {"project": project} if project is not None else {"organization": organization}
    override = Quota.objects.filter(resource=resource, **scope).values_list("limit", flat=True).first()
    return override if override is not None else quota_default(resource, "project" if project is not None else "organization")


def quota_usage(resource: str, *, project: Project | None = None, organization: Organization | None = None) -> int:
    counter = _COUNTERS[resource]
    if project is not None:
        return counter([project.pk])
    return counter(Project.with_deleted.filter(organization=organization).values("pk"))


def _words(resource: str, count: int) -> str:
    singular, plural = UNITS[QuotaResource(resource)]
    return f"{count} {singular if count == 1 else plural}"


def quota_check(*, project: Project, resource: str, adding: int) -> None:
    """Refuse (QuotaExceeded, field `resource`) when `adding` more would pass the project's or its
    organization's limit. Call it inside the transaction that allocates: the organization's row stays
    locked until that transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_check() must run inside the allocating transaction, or its lock protects nothing.")
    # FOR NO KEY UPDATE: allocators queue on it; inserts that only reference the row (KEY SHARE) do not.
    organization = Organization.objects.select_for_update(no_key=True).get(pk=project.organization_id)
    for scope, subject, label in (("project", {"project": project}, f"Project {project.name}"),
                                  ("organization", {"organization": organization}, f"Organization {organization.name}")):
        limit = quota_limit(resource, **subject)
        used = quota_usage(resource, **subject)
        if used + adding > limit:
            raise QuotaExceeded({resource: (
                f"{label} may hold at most {_words(resource, limit)} (its {scope} quota '{resource}'); it holds {used} "
                f"and this asks for {adding} more. Release some, or ask support to raise the limit.")})


@transaction.atomic
def quota_set(*, resource: str, limit: int, organization: Organization | None = None, project: Project | None = None,
              actor: Any = None) -> Quota:
    """Set (create or change) the limit of `resource` for an organization or a project."""
    if (organization is None) == (project is None):
        raise ValidationError("A quota is set for an organization or for a project: give exactly one.")
    if resource not in QuotaResource.values:
        raise ValidationError({"resource": f"Unknown resource '{resource}'. Choose one of: {', '.join(QuotaResource.values)}."})
    if limit is None or int(limit) < 0:
        raise ValidationError({"limit": "A limit is a whole number, 0 or more."})
    scope = {"organization": organization} if organization is not None else {"project": project}
    quota = Quota.objects.select_for_update(of=("self",)).filter(resource=resource, **scope).order_by("pk").first()
    before = snapshot(quota) if quota is not None else {}
    if quota is None:
        quota = Quota(resource=resource, **scope)
    quota.limit = int(limit)
    quota.full_clean()
    quota.save()
    audit_record(action="accounts.quota.set", target=quota, changes=diff(before, snapshot(quota)), actor=actor)
    return quota


@transaction.atomic
def quota_clear(*, quota: Quota, actor: Any = None) -> None:
    """Remove an override: the default from settings applies again."""
    locked = Quota.objects.select_for_update(of=("self",)).order_by().get(pk=quota.pk)
    audit_record(action="accounts.quota.clear", target=locked, changes=diff(snapshot(locked), {}), actor=actor)
    locked.delete()


def quota_overview(*, project: Project | None = None, organization: Organization | None = None) -> list[dict[str, Any]]:
    """Each resource's limit and usage for a project or organization (for the admin and the docs)."""
    return [{"resource": resource, "limit": quota_limit(resource, project=project, organization=organization),
             "used": quota_usage(resource, project=project, organization=organization) if resource in _COUNTERS else None}
            for resource in QuotaResource.values]
