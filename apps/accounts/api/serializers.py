"""Equinix Metal v1 shapes for users, organizations, projects, SSH keys and API keys.
Output and input serializers are separate: outputs describe, inputs validate."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.models import APIToken, Organization, Project, SSHKey

BASE = "/metal/v1"


def href(kind: str, pk: Any) -> dict[str, str]:
    return {"href": f"{BASE}/{kind}/{pk}"}


class UserOut(serializers.Serializer):
    def to_representation(self, user: Any) -> dict[str, Any]:
        return {
            "id": str(user.pk), "short_id": str(user.pk), "email": user.email, "first_name": user.first_name,
            "last_name": user.last_name, "full_name": user.get_full_name() or user.get_username(),
            "username": user.get_username(), "created_at": user.date_joined, "last_login_at": user.last_login,
            "href": f"{BASE}/users/{user.pk}",
        }


class OrganizationOut(serializers.ModelSerializer):
    projects = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "created_at", "updated_at", "projects", "href"]

    def get_projects(self, org: Organization) -> list[dict[str, str]]:
        visible = self.context.get("visible_project_ids")
        return [href("projects", p.pk) for p in org.projects.all() if visible is None or p.pk in visible]

    def get_href(self, org: Organization) -> str:
        return href("organizations", org.pk)["href"]


class ProjectOut(serializers.ModelSerializer):
    organization = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()
    ssh_keys = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "created_at", "updated_at", "organization", "ssh_keys", "role", "href"]

    def get_organization(self, project: Project) -> dict[str, str]:
        return href("organizations", project.organization_id)

    def get_href(self, project: Project) -> str:
        return href("projects", project.pk)["href"]

    def get_ssh_keys(self, project: Project) -> list[dict[str, str]]:
        return [href("ssh-keys", k.pk) for k in project.ssh_keys.all()]

    def get_role(self, project: Project) -> str | None:
        from apps.accounts.selectors import RANK_ROLE

        return RANK_ROLE.get(getattr(project, "role_rank", 0))


class ProjectIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    organization_id = serializers.UUIDField(required=False)


class ProjectUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)


class SSHKeyOut(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()

    class Meta:
        model = SSHKey
        fields = ["id", "label", "key", "fingerprint", "fingerprint_sha256", "created_at", "updated_at", "owner", "href"]

    def get_owner(self, key: SSHKey) -> dict[str, str]:
        return href("projects", key.project_id) if key.project_id else {"href": f"{BASE}/users/{key.owner_id}"}

    def get_href(self, key: SSHKey) -> str:
        return href("ssh-keys", key.pk)["href"]


class SSHKeyIn(serializers.Serializer):
    label = serializers.CharField(max_length=100)
    key = serializers.CharField()


class SSHKeyUpdateIn(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False)
    key = serializers.CharField(required=False)


class APIKeyOut(serializers.ModelSerializer):
    token = serializers.SerializerMethodField()
    href = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()

    class Meta:
        model = APIToken
        fields = ["id", "description", "read_only", "token", "created_at", "last_used_at", "revoked_at", "project", "href"]

    def get_token(self, token: APIToken) -> str:
        # The plaintext exists only in the response to the create call.
        return self.context.get("plaintext") or f"{token.key_preview}…"

    def get_project(self, token: APIToken) -> dict[str, str] | None:
        return href("projects", token.project_id) if token.project_id else None

    def get_href(self, token: APIToken) -> str:
        return f"{BASE}/api-keys/{token.pk}"


class APIKeyIn(serializers.Serializer):
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    read_only = serializers.BooleanField(required=False, default=False)
