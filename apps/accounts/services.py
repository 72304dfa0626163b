"""Every write to organizations, projects, memberships, API tokens and SSH keys."""
from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.expressions import Col
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import APIToken, Invitation, Membership, Organization, Project, Role, SSHKey
from apps.accounts.sshkeys import parse_public_key
from apps.audit.services import audit_record, diff, snapshot
from project.encryption import EncryptedTextField
from project.holds import holds_of
from project.prepared import prepared_cursor

User = get_user_model()

# last_used_at is informational; writing it on every request would turn every read into a
# write, so it is refreshed at most once a minute per token.
TOKEN_TOUCH_INTERVAL_SECONDS = 60


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def organization_create(*, name: str, slug: str = "", owner: Any = None, actor: Any = None) -> Organization:
    slug = slug or slugify(name)
    if not slug:
        raise ValidationError({"name": "An organization needs a name with at least one letter or digit."})
    if Organization.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"An organization with the slug '{slug}' already exists."})
    org = Organization(name=name, slug=slug)
    org.full_clean()
    org.save()
    audit_record(action="accounts.organization.create", target=org, changes=diff({}, snapshot(org)), actor=actor)
    if owner is not None:
        membership_set(user=owner, organization=org, role=Role.OWNER, actor=actor)
    return org


@transaction.atomic
def project_create(*, organization: Organization, name: str, actor: Any = None) -> Project:
    if Project.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": f"The organization {organization} already has a project named '{name}'."})
    project = Project(organization=organization, name=name)
    project.full_clean()
    project.save()
    audit_record(action="accounts.project.create", target=project, changes=diff({}, snapshot(project)), actor=actor)
    return project


@transaction.atomic
def project_update(*, project: Project, name: str | None = None, actor: Any = None) -> Project:
    """Change what may change on a project; fields left None stay as they are."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    before = snapshot(locked)
    if name is not None:
        if Project.objects.filter(organization_id=locked.organization_id, name=name).exclude(pk=locked.pk).exists():
            raise ValidationError({"name": f"The organization already has a project named '{name}'."})
        locked.name = name
    locked.full_clean()
    locked.save()
    audit_record(action="accounts.project.update", target=locked, changes=diff(before, snapshot(locked)), actor=actor)
    return locked


def default_organization(user: Any) -> Organization | None:
    """The organization a user's new projects go to when none is named: the first one (oldest
    membership) where they may create projects — owner or admin. Equinix Metal calls it the
    user's default organization."""
    membership = (Membership.objects.filter(user=user, organization__isnull=False, role__in=[Role.OWNER, Role.ADMIN])
                  .select_related("organization").order_by("created_at", "pk").first())
    return membership.organization if membership is not None else None


@transaction.atomic
def organization_update(*, organization: Organization, name: str | None = None, actor: Any = None) -> Organization:
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    before = snapshot(locked)
    if name is not None:
        locked.name = name
    locked.full_clean()
    locked.save()
    audit_record(action="accounts.organization.update", target=locked, changes=diff(before, snapshot(locked)), actor=actor)
    return locked


@transaction.atomic
def organization_delete(*, organization: Organization, actor: Any = None) -> None:
    """Delete an organization that has no projects left (delete those first)."""
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.projects.exists():
        raise ValidationError({"projects": f"Organization {locked} still has projects; delete them first."})
    audit_record(action="accounts.organization.delete", target=locked, changes=diff(snapshot(locked), {}), actor=actor)
    locked.delete()


@transaction.atomic
def membership_set(*, user: Any, role: str, organization: Organization | None = None, project: Project | None = None,
                   actor: Any = None) -> Membership:
    """Give `user` `role` in an organization or a project (creates or changes the membership)."""
    if (organization is None) == (project is None):
        raise ValidationError("Give either an organization or a project.")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}."})
    lookup = {"organization": organization} if organization is not None else {"project": project}
    membership = Membership.objects.select_for_update().filter(user=user, **lookup).first()
    before = snapshot(membership) if membership else {}
    if membership is None:
        membership = Membership(user=user, role=role, **lookup)
    else:
        if role != Role.OWNER:
            _keep_an_owner(membership)
        membership.role = role
    membership.full_clean()
    membership.save()
    audit_record(action="accounts.membership.set", target=membership, changes=diff(before, snapshot(membership)), actor=actor)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Any = None) -> None:
    before = snapshot(membership)
    _keep_an_owner(membership)
    audit_record(action="accounts.membership.remove", target=membership, changes=diff(before, {}), actor=actor)
    membership.delete()


def _keep_an_owner(membership: Membership) -> None:
    """The last-owner rule, for a membership about to stop being an owner (removed or given another role): an
    organization keeps at least one owner, and a project keeps one (its own, or one of its organization's, who own
    every project of it). Call inside the caller's transaction: the owners are locked."""
    if membership.pk is None or membership.role != Role.OWNER:
        return
    others = Membership.objects.select_for_update().filter(role=Role.OWNER).exclude(pk=membership.pk)
    if membership.organization_id:
        if not others.filter(organization_id=membership.organization_id).exists():
            raise ValidationError("This is the organization's last owner; make someone else owner first.")
        return
    project = membership.project
    if not (others.filter(project_id=project.pk).exists() or others.filter(organization_id=project.organization_id).exists()):
        raise ValidationError(f"This is the last owner of project {project.name}; make someone else owner first.")


@transaction.atomic
def api_token_create(*, user: Any, description: str = "", project: Project | None = None, read_only: bool = False,
                     actor: Any = None) -> tuple[APIToken, str]:
    """Create a token; return it with its plaintext (stored only encrypted, readable again by its owner)."""
    plaintext = secrets.token_urlsafe(32)
    token = APIToken(user=user, project=project, description=description, read_only=read_only,
                     key_hash=hash_token(plaintext), key_preview=plaintext[:6], key_encrypted=plaintext)
    token.full_clean()
    token.save()
    audit_record(action="accounts.api_token.create", target=token,
                 changes=diff({}, snapshot(token, fields=["user", "project", "description", "read_only", "key_preview"])), actor=actor)
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, token: APIToken, actor: Any = None) -> APIToken:
    token = APIToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="accounts.api_token.revoke", target=token, changes={"revoked_at": [None, token.revoked_at]}, actor=actor)
    return token


@functools.cache
def _token_lookup(vendor: str) -> tuple[str, list[tuple[type[Model], list[str], list[list[tuple[Any, Col]]]]]]:
    """The SQL of `api_token_authenticate()`'s one query and, per model it loads (the token, its user,
    its project), the attribute names and value converters of its columns. It is the query
    `APIToken.objects.select_related("user", "project").filter(key_hash=…, revoked_at=None,
    user__is_active=True)` compiles to, written once: compiling that on every API request cost
    ~0.8 ms of CPU, four times the query itself."""
    qn = connection.ops.quote_name
    columns: list[str] = []
    models = []
    for alias, model in (("t", APIToken), ("u", User), ("p", Project)):
        # The encrypted token is left out (deferred): authenticating never needs to decrypt it.
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, EncryptedTextField)]
        columns += [f"{alias}.{qn(f.column)}" for f in fields]
        # The converters the ORM would apply (SQLite returns datetimes, UUIDs and booleans as text/ints).
        converters = []
        for field in fields:
            col = field.get_col(alias)  # a foreign key converts as its target (a UUID from SQLite text)
            converters.append([(convert, col) for convert in [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]])
        models.append((model, [f.attname for f in fields], converters))
    token_col = {name: f"t.{qn(APIToken._meta.get_field(name).column)}" for name in ("user", "project", "key_hash", "revoked_at")}
    tables = (f"{qn(APIToken._meta.db_table)} t JOIN {qn(User._meta.db_table)} u ON u.{qn(User._meta.pk.column)} = {token_col['user']}"
              f" LEFT JOIN {qn(Project._meta.db_table)} p ON p.{qn(Project._meta.pk.column)} = {token_col['project']}")
    where = (f"{token_col['key_hash']} = %s AND {token_col['revoked_at']} IS NULL"
             f" AND u.{qn(User._meta.get_field('is_active').column)} = %s")
    # Quoted identifiers from the models' metadata only; the token's hash is a parameter.
    sql = f"SELECT {', '.join(columns)} FROM {tables} WHERE {where}"  # noqa: S608
    return sql, models


def api_token_authenticate(*, plaintext: str) -> APIToken | None:
    """The active token with this plaintext (its user active too), or None. One indexed query, on
    every API request: revocation and deactivation take effect on the next request."""
    if not plaintext:
        return None
    sql, models = _token_lookup(connection.vendor)
    with prepared_cursor() as cursor:
        cursor.execute(sql, [hash_token(plaintext), True])
        row = cursor.fetchone()
    if row is None:
        return None
    loaded: list[Model | None] = []
    at = 0
    for model, names, converters in models:
        values = list(row[at:at + len(names)])
        at += len(names)
        for i, (field_converters, value) in enumerate(zip(converters, values, strict=True)):
            for convert, col in field_converters:
                value = convert(value, col, connection)
            values[i] = value
        loaded.append(model.from_db(connection.alias, names, values) if values[0] is not None else None)
    token, user, project = cast(APIToken, loaded[0]), loaded[1], loaded[2]
    token.user = user
    token.project = project
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOKEN_TOUCH_INTERVAL_SECONDS:
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def ssh_key_create(*, label: str, key: str, owner: Any = None, project: Project | None = None, actor: Any = None) -> SSHKey:
    if (owner is None) == (project is None):
        raise ValidationError("An SSH key belongs to a user or to a project: give exactly one.")
    if not (label or "").strip():
        raise ValidationError({"label": "Give the key a label, e.g. 'laptop'."})
    parsed = parse_public_key(key)
    scope = {"owner": owner} if owner is not None else {"project": project}
    if SSHKey.objects.filter(fingerprint_sha256=parsed.fingerprint_sha256, **scope).exists():
        raise ValidationError({"key": f"This key ({parsed.fingerprint_sha256}) is already registered here."})
    # Stored exactly as sent (clients compare what they sent with what they read back); validated
    # and fingerprinted on the normalised copy.
    ssh_key = SSHKey(label=label.strip(), key=key, fingerprint=parsed.fingerprint_md5,
                     fingerprint_sha256=parsed.fingerprint_sha256, **scope)
    ssh_key.full_clean()
    ssh_key.save()
    audit_record(action="accounts.ssh_key.create", target=ssh_key, changes=diff({}, snapshot(ssh_key)), actor=actor)
    return ssh_key


@transaction.atomic
def ssh_key_update(*, ssh_key: SSHKey, label: str | None = None, key: str | None = None, actor: Any = None) -> SSHKey:
    before = snapshot(SSHKey.objects.select_for_update().get(pk=ssh_key.pk))  # the stored row (see project_update)
    if label is not None:
        if not label.strip():
            raise ValidationError({"label": "Give the key a label, e.g. 'laptop'."})
        ssh_key.label = label.strip()
    if key is not None:
        parsed = parse_public_key(key)
        ssh_key.key, ssh_key.fingerprint, ssh_key.fingerprint_sha256 = key, parsed.fingerprint_md5, parsed.fingerprint_sha256
    ssh_key.full_clean()
    ssh_key.save()
    audit_record(action="accounts.ssh_key.update", target=ssh_key, changes=diff(before, snapshot(ssh_key)), actor=actor)
    return ssh_key


@transaction.atomic
def ssh_key_delete(*, ssh_key: SSHKey, actor: Any = None) -> None:
    audit_record(action="accounts.ssh_key.delete", target=ssh_key, changes=diff(snapshot(ssh_key), {}), actor=actor)
    ssh_key.delete()


@transaction.atomic
def user_create(*, username: str, email: str = "", password: str | None = None, is_staff: bool = False,
                is_superuser: bool = False, actor: Any = None) -> Any:
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"The user '{username}' already exists."})
    user = User(username=username, email=email, is_staff=is_staff or is_superuser, is_superuser=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    audit_record(action="accounts.user.create", target=user,
                 changes=diff({}, snapshot(user, fields=["username", "email", "is_staff", "is_superuser"])), actor=actor)
    return user


@transaction.atomic
def project_delete(*, project: Project, actor: Any = None) -> None:
    """Delete a project whose devices are all deleted and whose IP reservations and assignments are all
    released. Its row stays, marked deleted: every lookup and list leaves it out, its project tokens
    are revoked, and its history (devices, address assignments, installs, audit, usage) still names it,
    so "who held this address at that time" keeps its answer. A project that still holds anything
    refuses, saying what (the apps that hold projects register with project.holds)."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    holds = holds_of("project", locked)
    if holds:
        raise ValidationError(f"Project {locked} still holds {'; '.join(holds)}; delete or release them first.")
    for token in APIToken.objects.filter(project=locked, revoked_at__isnull=True):
        api_token_revoke(token=token, actor=actor)
    now = timezone.now()
    Project.with_deleted.filter(pk=locked.pk).update(deleted_at=now)
    audit_record(action="accounts.project.delete", target=locked, changes={"deleted_at": [None, now]}, actor=actor)


@transaction.atomic
def invitation_create(*, organization: Organization, invitee: str, role: str, projects: list[Project] | None = None,
                      actor: Any = None) -> Invitation:
    if role not in Role.values:
        raise ValidationError({"roles": f"Unknown role '{role}'."})
    foreign = [p for p in projects or [] if p.organization_id != organization.pk]
    if foreign:
        raise ValidationError({"projects_ids": "Every project must belong to the organization."})
    invitation = Invitation(organization=organization, invitee=invitee.strip().lower(), role=role,
                            invited_by=actor if getattr(actor, "is_authenticated", False) else getattr(actor, "user", None))
    invitation.full_clean()
    invitation.save()
    invitation.projects.set(projects or [])
    audit_record(action="accounts.invitation.create", target=invitation, changes=diff({}, snapshot(invitation)), actor=actor)
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: Any, actor: Any = None) -> list[Membership]:
    """The invitee joins: the organization, or each invited project, with the invited role."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if (user.email or "").strip().lower() != locked.invitee:
        raise ValidationError({"invitee": "This invitation is for another e-mail address."})
    projects = list(locked.projects.all())
    memberships = ([membership_set(user=user, role=locked.role, project=p, actor=actor) for p in projects] if projects
                   else [membership_set(user=user, role=locked.role, organization=locked.organization, actor=actor)])
    audit_record(action="accounts.invitation.accept", target=locked, changes=diff(snapshot(locked), {}), actor=actor)
    locked.delete()
    return memberships


@transaction.atomic
def invitation_delete(*, invitation: Invitation, actor: Any = None) -> None:
    audit_record(action="accounts.invitation.delete", target=invitation, changes=diff(snapshot(invitation), {}), actor=actor)
    invitation.delete()
