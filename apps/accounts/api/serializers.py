"""Equinix Metal v1 shapes for users, organizations, projects, memberships, invitations, SSH keys and
API keys. Output and input serializers are separate: outputs describe, inputs validate.
Unknown input fields are ignored and null is accepted where the clients send it."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.models import APIToken, Invitation, Membership, Organization, Project, SSHKey
from apps.accounts.selectors import RANK_ROLE
from project.public_ids import public_id

BASE = "/metal/v1"


def href(kind: str, pk: Any) -> dict[str, str]:
    return {"id": str(pk), "href": f"{BASE}/{kind}/{pk}"}


def user_href(user_id: int) -> dict[str, str]:
    return {"id": public_id("user", user_id), "href": f"{BASE}/users/{public_id('user', user_id)}"}


def user_repr(user: Any, *, default_organization: Any = None, default_project: Any = None) -> dict[str, Any]:
    ref = user_href(user.pk)
    return {
        "id": ref["id"], "short_id": ref["id"][-8:], "email": user.email, "emails": [], "first_name": user.first_name,
        "last_name": user.last_name, "full_name": user.get_full_name() or user.get_username(), "username": user.get_username(),
        "avatar_url": "", "avatar_thumb_url": "", "timezone": "UTC", "customdata": {}, "two_factor_auth": "",
        "created_at": user.date_joined, "updated_at": user.date_joined, "last_login_at": user.last_login,
        "default_organization_id": str(default_organization.pk) if default_organization is not None else None,
        "default_project_id": str(default_project.pk) if default_project is not None else None,
        "href": ref["href"],
    }


class OrganizationOut(serializers.BaseSerializer):
    def to_representation(self, org: Organization) -> dict[str, Any]:
        visible = self.context.get("visible_project_ids")
        return {
            "id": str(org.pk), "name": org.name, "description": "", "website": "", "twitter": "", "logo": "",
            "created_at": org.created_at, "updated_at": org.updated_at, "customdata": {}, "credit_amount": 0,
            "projects": [href("projects", p.pk) for p in org.projects.all() if visible is None or p.pk in visible],
            "memberships": [], "members": [], "terms": 0, "enforce_2fa_at": None,
            "href": f"{BASE}/organizations/{org.pk}",
        }


class ProjectOut(serializers.BaseSerializer):
    def to_representation(self, project: Project) -> dict[str, Any]:
        base = f"{BASE}/projects/{project.pk}"
        return {
            "id": str(project.pk), "name": project.name, "created_at": project.created_at, "updated_at": project.updated_at,
            "organization": href("organizations", project.organization_id),
            "ssh_keys": [href("ssh-keys", k.pk) for k in project.ssh_keys.all()],
            "devices": [], "members": [], "memberships": [], "invitations": [],
            "bgp_config": {"href": f"{base}/bgp-config"}, "backend_transfer_enabled": False, "customdata": {}, "tags": [],
            "max_devices": {}, "network_status": {}, "payment_method": None, "type": "default",
            "role": RANK_ROLE.get(getattr(project, "role_rank", 0)),
            "href": base,
        }


class ProjectIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    organization_id = serializers.UUIDField(required=False, allow_null=True)


class ProjectUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)


class OrganizationIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class OrganizationUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)


class SSHKeyOut(serializers.BaseSerializer):
    def to_representation(self, key: SSHKey) -> dict[str, Any]:
        owner = href("projects", key.project_id) if key.project_id else user_href(key.owner_id)
        return {
            "id": str(key.pk), "label": key.label, "key": key.key, "fingerprint": key.fingerprint,
            "fingerprint_sha256": key.fingerprint_sha256, "tags": [], "created_at": key.created_at, "updated_at": key.updated_at,
            "owner": owner, "entity": owner, "href": f"{BASE}/ssh-keys/{key.pk}",
        }


class SSHKeyIn(serializers.Serializer):
    label = serializers.CharField(max_length=100)
    key = serializers.CharField(trim_whitespace=False)


class SSHKeyUpdateIn(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False)
    key = serializers.CharField(required=False, trim_whitespace=False)


class APIKeyOut(serializers.BaseSerializer):
    """The token itself is shown to its owner (the user who made it), a preview to anyone else."""

    def to_representation(self, token: APIToken) -> dict[str, Any]:
        viewer = self.context.get("viewer")
        readable = viewer is not None and token.user_id == viewer.pk and token.key_encrypted
        return {
            "id": str(token.pk), "description": token.description, "read_only": token.read_only,
            "token": token.key_encrypted if readable else f"{token.key_preview}…",
            "created_at": token.created_at, "updated_at": token.created_at, "last_used_at": token.last_used_at,
            "project": href("projects", token.project_id) if token.project_id else None,
            "user": user_href(token.user_id), "href": f"{BASE}/api-keys/{token.pk}",
        }


class APIKeyIn(serializers.Serializer):
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True, default="")
    read_only = serializers.BooleanField(required=False, allow_null=True, default=False)


ROLE_NAMES = {"owner": "owner", "admin": "admin", "collaborator": "collaborator", "billing": "read_only", "limited_collaborator": "collaborator",
              "read_only": "read_only"}


class MembershipOut(serializers.BaseSerializer):
    def to_representation(self, membership: Membership) -> dict[str, Any]:
        ref = public_id("membership", membership.pk)
        return {
            "id": ref, "roles": [membership.role], "created_at": membership.created_at, "updated_at": membership.created_at,
            "user": user_href(membership.user_id), "email": membership.user.email,
            "project": href("projects", membership.project_id) if membership.project_id else None,
            "organization": href("organizations", membership.organization_id) if membership.organization_id else None,
            "href": f"{BASE}/memberships/{ref}",
        }


class MembershipUpdateIn(serializers.Serializer):
    roles = serializers.ListField(child=serializers.CharField(), min_length=1)


class InvitationOut(serializers.BaseSerializer):
    def to_representation(self, invitation: Invitation) -> dict[str, Any]:
        return {
            "id": str(invitation.pk), "invitee": invitation.invitee, "roles": [invitation.role], "nonce": "",
            "organization": href("organizations", invitation.organization_id),
            "projects": [href("projects", p.pk) for p in invitation.projects.all()],
            "invited_by": user_href(invitation.invited_by_id) if invitation.invited_by_id else None,
            "invitation": {"href": f"{BASE}/invitations/{invitation.pk}"},
            "created_at": invitation.created_at, "updated_at": invitation.created_at,
            "href": f"{BASE}/invitations/{invitation.pk}",
        }


class InvitationIn(serializers.Serializer):
    invitee = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    projects_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)
    message = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    def validate_roles(self, roles: list[str] | None) -> list[str]:
        unknown = [r for r in roles or [] if r not in ROLE_NAMES]
        if unknown:
            raise serializers.ValidationError(f"Unknown role(s): {', '.join(unknown)}. Use {', '.join(ROLE_NAMES)}.")
        return roles or ["collaborator"]
