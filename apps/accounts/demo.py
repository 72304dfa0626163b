"""Demo tenants: a staff user, two customer organizations with projects, members and SSH keys."""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model

from apps.accounts import services
from apps.accounts.models import Membership, Organization, Project, Role, SSHKey

User = get_user_model()

ORGS = [
    ("Acme Streaming", "acme", ["production", "staging"]),
    ("Globex Research", "globex", ["hpc-cluster"]),
]
CUSTOMERS = [
    # username, organization slug, org role, (project name, project role) or None
    ("alice", "acme", Role.OWNER, None),
    ("bob", "acme", None, ("staging", Role.COLLABORATOR)),
    ("carol", "globex", Role.ADMIN, None),
    ("dave", "globex", Role.READ_ONLY, None),
]


def demo_public_key(name: str) -> str:
    """A real, valid ed25519 public key derived from `name`, the same on every run."""
    private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"metalyard-demo-{name}".encode()).digest())
    raw = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{raw} {name}@demo"


def _user(username: str, *, staff: bool = False, password: str | None = None) -> Any:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = services.user_create(username=username, email=f"{username}@example.com", password=password,
                                    is_staff=staff, is_superuser=staff)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def seed(*, out: Any, context: dict[str, Any]) -> str:
    password = context.get("admin_password") or secrets.token_urlsafe(12)
    _user("admin", staff=True, password=password)
    context.setdefault("logins", []).append(
        f"Staff login: http://127.0.0.1:8000/admin/  user: admin  password: {password}")
    customer_password = "demo-customer-pw"  # noqa: S105 - documented demo login
    for slug_name, slug, projects in ORGS:
        org = Organization.objects.filter(slug=slug).first() or services.organization_create(name=slug_name, slug=slug)
        for project_name in projects:
            if not Project.objects.filter(organization=org, name=project_name).exists():
                services.project_create(organization=org, name=project_name)
    for username, org_slug, org_role, project_role in CUSTOMERS:
        user = _user(username, password=customer_password)
        org = Organization.objects.get(slug=org_slug)
        if org_role and not Membership.objects.filter(user=user, organization=org, role=org_role).exists():
            services.membership_set(user=user, organization=org, role=org_role)
        if project_role:
            project = Project.objects.get(organization=org, name=project_role[0])
            if not Membership.objects.filter(user=user, project=project, role=project_role[1]).exists():
                services.membership_set(user=user, project=project, role=project_role[1])
        if not SSHKey.objects.filter(owner=user).exists():
            services.ssh_key_create(label=f"{username}-laptop", key=demo_public_key(username), owner=user)
    for project in Project.objects.filter(organization__slug__in=[o[1] for o in ORGS]):
        if not SSHKey.objects.filter(project=project).exists():
            services.ssh_key_create(label=f"{project.name}-deploy", key=demo_public_key(f"{project.organization.slug}-{project.name}"), project=project)
    context["logins"].append(f"Customer logins: alice, bob, carol, dave  password: {customer_password}")
    return f"{Organization.objects.count()} organizations, {Project.objects.count()} projects, {User.objects.count()} users"
