"""Organizations, projects, memberships with roles, API tokens and SSH keys."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from project.encryption import EncryptedTextField


class Role(models.TextChoices):
    # Ordered from least to most; ROLE_RANK below is the order the selectors compare by.
    READ_ONLY = "read_only", "Read-only"
    COLLABORATOR = "collaborator", "Collaborator"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK: dict[str, int] = {Role.READ_ONLY: 1, Role.COLLABORATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LiveProjectManager(models.Manager["Project"]):
    """Projects that are not deleted: what every lookup, list and permission check starts from."""

    def get_queryset(self) -> models.QuerySet[Project]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Project(models.Model):
    """A customer project. Deleting one keeps its row (marked deleted, invisible to every lookup) so
    that its history — devices, address assignments, installs, audit, usage — still names it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LiveProjectManager()
    # History reads (related rows reach a deleted project through the base manager anyway).
    with_deleted = models.Manager()  # noqa: DJ012 - ruff takes the custom manager above for a field

    class Meta:
        ordering = ["organization__name", "name"]
        # Related lookups from history rows must find deleted projects too.
        base_manager_name = "with_deleted"
        constraints = [models.UniqueConstraint(fields=["organization", "name"], condition=models.Q(deleted_at__isnull=True),
                                               name="project_name_unique_in_org")]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.name}" if self.organization_id else self.name


class Membership(models.Model):
    """A user's role in a whole organization (all its projects) or in one project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=False, project__isnull=True) | Q(organization__isnull=True, project__isnull=False)),
                name="membership_org_xor_project",
                violation_error_message="A membership is either in an organization or in a project, not both.",
            ),
            models.UniqueConstraint(fields=["user", "organization"], condition=Q(organization__isnull=False), name="membership_unique_org"),
            models.UniqueConstraint(fields=["user", "project"], condition=Q(project__isnull=False), name="membership_unique_project"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.organization or self.project}"


class APIToken(models.Model):
    """A bearer token. Requests are matched by its SHA-256; the token itself is kept encrypted at rest
    (Fernet, the project's keys) so that its owner can read it back, as Equinix Metal clients
    (Terraform's api-key resources, packngo) expect."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens",
                                help_text="Set for a project-scoped token; empty for a user token.")
    description = models.CharField(max_length=200, blank=True)
    read_only = models.BooleanField(default=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_preview = models.CharField(max_length=8, editable=False, help_text="First characters, to recognise the token.")
    key_encrypted = EncryptedTextField(blank=True, editable=False, help_text="The token, encrypted; shown only to its owner.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        scope = f"project {self.project}" if self.project_id else "user"
        return f"{self.key_preview}… ({scope}{', read-only' if self.read_only else ''})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SSHKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=100)
    key = models.TextField(help_text="An OpenSSH public key line: type, base64 body, optional comment.")
    fingerprint = models.CharField(max_length=64, editable=False, help_text="MD5, as the Equinix Metal API shows it.")
    fingerprint_sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="ssh_keys")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="ssh_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label"]
        verbose_name = "SSH key"
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner__isnull=False, project__isnull=True) | Q(owner__isnull=True, project__isnull=False)),
                name="sshkey_user_xor_project",
                violation_error_message="An SSH key belongs to a user or to a project, not both.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.fingerprint_sha256})"


class Invitation(models.Model):
    """An invitation for someone (by e-mail) to join an organization, or only some of its projects,
    with a role. The invitee accepts it once they have an account with that address."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    projects = models.ManyToManyField(Project, blank=True, related_name="invitations",
                                      help_text="Empty: the whole organization; otherwise only these projects.")
    invitee = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.COLLABORATOR)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.organization} as {self.role}"


class QuotaResource(models.TextChoices):
    """What a tenant consumes from shared pools, each limited per project and per organization."""

    DEVICES = "devices", "Devices"
    PUBLIC_IPV4_ADDRESSES = "public_ipv4_addresses", "Public IPv4 addresses reserved"
    IPV6_BLOCKS = "ipv6_blocks", "IPv6 blocks reserved"


class Quota(models.Model):
    """A limit for one organization or one project that replaces the default from settings
    (QUOTA_DEFAULTS). Set by staff in the admin, through accounts.quotas (audited)."""

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas")
    resource = models.CharField(max_length=32, choices=QuotaResource.choices)
    limit = models.PositiveIntegerField(help_text="At most this many; 0 forbids any.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "project__name", "resource"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=False, project__isnull=True) | Q(organization__isnull=True, project__isnull=False)),
                name="quota_org_xor_project",
                violation_error_message="A quota is set for an organization or for a project, not both.",
            ),
            models.UniqueConstraint(fields=["organization", "resource"], condition=Q(organization__isnull=False), name="quota_unique_org"),
            models.UniqueConstraint(fields=["project", "resource"], condition=Q(project__isnull=False), name="quota_unique_project"),
        ]

    def __str__(self) -> str:
        return f"{self.organization or self.project}: {self.get_resource_display()} ≤ {self.limit}"
