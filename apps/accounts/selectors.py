"""Who may see what: the projects a user (or token) may see, and the role held there.

Every customer-facing face (portal, API) starts its querysets from `visible_projects()`.
Rules: an organization membership gives its role on every project of the organization; a
project membership gives its role on that project; the higher of the two counts. A token
narrows further: a project token sees only its project, a read-only token only reads.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest, Least

from apps.accounts.models import ROLE_RANK, APIToken, Membership, Project, Role, SSHKey
from project.public_ids import key_of

RANK_ROLE: dict[int, str] = {rank: role for role, rank in ROLE_RANK.items()}

# Which role each kind of action needs, lowest first.
READ, WRITE, MANAGE, OWN = "read", "write", "manage", "own"
ACTION_MIN_RANK: dict[str, int] = {
    READ: ROLE_RANK[Role.READ_ONLY],
    WRITE: ROLE_RANK[Role.COLLABORATOR],  # deploy, power, reinstall, delete devices, assign IPs
    MANAGE: ROLE_RANK[Role.ADMIN],  # members, project settings, project tokens
    OWN: ROLE_RANK[Role.OWNER],  # delete the project
}

_rank_case = Case(*[When(role=role, then=Value(rank)) for role, rank in ROLE_RANK.items()], default=Value(0), output_field=IntegerField())


def visible_projects(user: Any, token: APIToken | None = None) -> QuerySet[Project]:
    """The projects `user` may see, annotated with `role_rank` (1..4)."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    org_rank = Subquery(
        Membership.objects.filter(user=user, organization_id=OuterRef("organization_id"))
        .annotate(rank=_rank_case).values("rank")[:1],
        output_field=IntegerField(),
    )
    project_rank = Subquery(
        Membership.objects.filter(user=user, project_id=OuterRef("pk"))
        .annotate(rank=_rank_case).values("rank")[:1],
        output_field=IntegerField(),
    )
    rank = Greatest(Coalesce(org_rank, Value(0)), Coalesce(project_rank, Value(0)))
    if token is not None and token.read_only:
        rank = Least(rank, Value(ROLE_RANK[Role.READ_ONLY]))
    # role_for_* say whom role_rank was computed for, so project_role() can trust it without asking again.
    qs = (Project.objects.select_related("organization")
          .annotate(role_rank=rank, role_for_user=Value(user.pk), role_for_token=Value(token.pk if token is not None else 0))
          .filter(role_rank__gt=0))
    if token is not None and token.project_id:
        qs = qs.filter(pk=token.project_id)
    return qs


def project_role(user: Any, project: Project, token: APIToken | None = None) -> str | None:
    """The role `user` holds in `project`, or None if the project is not visible to them."""
    token_key = token.pk if token is not None else 0
    if user.pk is not None and getattr(project, "role_for_user", None) == user.pk and getattr(project, "role_for_token", None) == token_key:
        rank = project.role_rank  # fetched through visible_projects() for this very caller
    else:
        rank = visible_projects(user, token).filter(pk=project.pk).values_list("role_rank", flat=True).first()
    return RANK_ROLE.get(rank) if rank else None


def can(user: Any, project: Project, action: str, token: APIToken | None = None) -> bool:
    role = project_role(user, project, token)
    return role is not None and ROLE_RANK[role] >= ACTION_MIN_RANK[action]


def projects_where(user: Any, action: str, token: APIToken | None = None) -> QuerySet[Project]:
    """The visible projects in which `user` may perform `action`."""
    return visible_projects(user, token).filter(role_rank__gte=ACTION_MIN_RANK[action])


def organization_role(user: Any, organization_id: Any) -> str | None:
    rank = (
        Membership.objects.filter(user=user, organization_id=organization_id)
        .annotate(rank=_rank_case).aggregate(m=Max("rank"))["m"]
    )
    return RANK_ROLE.get(rank) if rank else None


def device_ssh_keys(*, project: Project, project_ssh_keys: list[Any] | None = None, user_ssh_keys: list[Any] | None = None,
                    ssh_keys: list[str] | None = None, no_ssh_keys: bool = False) -> list[str]:
    """Which public keys go on a new device of `project`, by the real service's rule. The one rule for
    every way of ordering (API, portal, batches, spot): `device_create` calls it.

    - `no_ssh_keys`: none;
    - any of `project_ssh_keys` (ids of the project's keys), `user_ssh_keys` (ids of users who are members
      of the project or its organization: all their personal keys — the specification's meaning; the id of
      such a member's key is taken too) or `ssh_keys` (key texts) given non-empty: exactly those;
    - otherwise the project's keys and the personal keys of its members who may change its devices
      (every role but read-only, through the organization or the project).
    Ids that name no such key or member are a field error. The texts come back as stored, de-duplicated."""
    if no_ssh_keys:
        return []
    members = Membership.objects.filter(Q(project=project) | Q(organization_id=project.organization_id))
    if not (project_ssh_keys or user_ssh_keys or ssh_keys):
        return list(dict.fromkeys(device_default_ssh_keys(project).values_list("key", flat=True)))
    chosen: list[str] = []
    wanted = _uuids("project_ssh_keys", project_ssh_keys or [])
    found = dict(SSHKey.objects.filter(project=project, pk__in=wanted).values_list("pk", "key"))
    _all_found("project_ssh_keys", {str(i) for i in wanted}, {str(pk) for pk in found}, "No such SSH key in this project")
    chosen += [found[i] for i in wanted]
    chosen += _member_keys(members, [str(i) for i in _uuids("user_ssh_keys", user_ssh_keys or [])])
    chosen += list(ssh_keys or [])
    return list(dict.fromkeys(chosen))


def device_default_ssh_keys(project: Project) -> QuerySet[SSHKey]:
    """The keys `device_ssh_keys` writes when the order names none: the project's keys and the personal keys of
    its members who may change its devices (every role but read-only). The portal's deploy form lists these."""
    writers = (Membership.objects.filter(Q(project=project) | Q(organization_id=project.organization_id))
               .exclude(role=Role.READ_ONLY).values("user_id"))
    return SSHKey.objects.filter(Q(project=project) | Q(owner_id__in=writers)).select_related("owner").order_by("created_at", "pk")


def _member_keys(members: QuerySet[Membership], listed: list[str]) -> list[str]:
    """`user_ssh_keys`: for a member's user id, all their personal keys; for a member's key id, that key."""
    user_pks = {i: key_of("user", i) for i in listed}
    member_keys = SSHKey.objects.filter(owner_id__in=members.values("user_id"))
    named_users = [pk for pk in user_pks.values() if pk is not None]
    of_users = list(member_keys.filter(owner_id__in=named_users).order_by("created_at", "pk").values_list("owner_id", "key"))
    by_id = dict(member_keys.filter(pk__in=[i for i, pk in user_pks.items() if pk is None]).values_list("pk", "key"))
    member_users = set(members.filter(user_id__in=named_users).values_list("user_id", flat=True))
    _all_found("user_ssh_keys", listed, {i for i, pk in user_pks.items() if pk in member_users} | {str(pk) for pk in by_id},
               "No member of this project, nor a member's SSH key, has the id")
    keys: list[str] = []
    for i, pk in user_pks.items():
        keys += [key for owner, key in of_users if owner == pk] if pk is not None else [by_id[uuid.UUID(i)]]
    return keys


def _all_found(field: str, wanted: set[str] | list[str], found: set[str], message: str) -> None:
    missing = sorted(set(wanted) - found)
    if missing:
        raise ValidationError({field: f"{message}: {', '.join(missing)}."})


def _uuids(field: str, values: list[Any]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(str(v)) for v in values]
    except ValueError as exc:
        raise ValidationError({field: "SSH key and user ids are UUIDs."}) from exc


def project_by_reference(ref: str) -> Project | None:
    """The project a command line names: its id, or `organization-slug/project-name` (None: no such project)."""
    projects = Project.objects.select_related("organization")
    if "/" in ref:
        slug, name = ref.split("/", 1)
        return projects.filter(organization__slug=slug, name=name).first()
    try:
        return projects.filter(pk=ref).first()
    except ValidationError:
        return None
