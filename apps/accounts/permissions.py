"""How API views check what a caller may do in a project they can see.

Lookups go through `visible_projects()` first (invisible → 404); this adds the role check
(visible but not allowed → 403, saying which role is needed)."""
from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.accounts.models import APIToken, Project
from apps.accounts.selectors import ACTION_MIN_RANK, RANK_ROLE, can


def request_token(request: Request) -> APIToken | None:
    return request.auth if isinstance(request.auth, APIToken) else None


def refusal_message(project: Project, action: str, token: APIToken | None = None) -> str:
    """Why a caller may not do `action` in `project`: the role it needs (and a read-only token's hint)."""
    needed = RANK_ROLE[ACTION_MIN_RANK[action]]
    hint = " (this API token is read-only)" if token is not None and token.read_only else ""
    return f"This needs the '{needed}' role or higher in project {project.name}{hint}."


def require(request: Request, project: Project, action: str) -> None:
    token = request_token(request)
    if not can(request.user, project, action, token=token):
        raise PermissionDenied(refusal_message(project, action, token))


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class StaffAPIPermission(BasePermission):
    """Staff APIs: staff read everything; a write also needs a read-write token and the Django
    permission that `write_permission()` names for the request."""

    def write_permission(self, request: Request, view: Any) -> str:
        raise NotImplementedError

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        token = request_token(request)
        if token is not None and token.project_id:
            raise PermissionDenied("A project-scoped API token cannot use the staff API (/api/); use a user token.")
        if request.method in SAFE_METHODS:
            return True
        return not (token is not None and token.read_only) and user.has_perm(self.write_permission(request, view))


def require_write_token(request: Request) -> None:
    """Refuse writes with a read-only token even where no project is involved (e.g. own SSH keys)."""
    token = request_token(request)
    if token is not None and token.read_only:
        raise PermissionDenied("This API token is read-only.")


def actor_of(request: Request) -> Any:
    return request_token(request) or request.user
