"""The customer API for the current user, users, organizations, projects, memberships, invitations,
SSH keys and API keys. Every queryset starts from what the caller may see; everything else is 404."""
from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.models import APIToken, Membership, Organization, Project, Role, SSHKey
from apps.accounts.permissions import actor_of, request_token, require, require_write_token
from apps.accounts.selectors import MANAGE, OWN, WRITE, organization_role, visible_projects
from project.public_ids import key_of

User = get_user_model()


def projects_for(request: Request) -> QuerySet[Project]:
    return visible_projects(request.user, request_token(request)).prefetch_related("ssh_keys")


def keys_for(request: Request) -> QuerySet[SSHKey]:
    project_ids = projects_for(request).values("pk")
    mine = Q(owner=request.user) if request_token(request) is None or not request_token(request).project_id else Q(pk__in=[])
    return SSHKey.objects.filter(mine | Q(project_id__in=project_ids))


def organizations_for(request: Request) -> QuerySet[Organization]:
    visible = projects_for(request)
    orgs = Organization.objects.filter(Q(pk__in=visible.values("organization_id")) | Q(memberships__user=request.user)).distinct()
    if request_token(request) is not None and request_token(request).project_id:
        orgs = orgs.filter(pk__in=visible.values("organization_id"))
    return orgs


def require_user_token(request: Request, what: str) -> None:
    token = request_token(request)
    if token is not None and token.project_id:
        raise PermissionDenied(f"A project-scoped API token cannot {what}.")


def require_org_role(request: Request, org: Organization, roles: tuple[str, ...], what: str) -> None:
    require_write_token(request)
    require_user_token(request, what)
    if organization_role(request.user, org.pk) not in roles:
        raise PermissionDenied(f"{what[0].upper()}{what[1:]} needs the {' or '.join(roles)} role in the organization.")


def search_filter(queryset: QuerySet, request: Request, *fields: str) -> QuerySet:
    term = request.query_params.get("search") or request.query_params.get("query")
    if not term:
        return queryset
    match = Q()
    for name in fields:
        match |= Q(**{f"{name}__icontains": term})
    return queryset.filter(match)


class ListView(GenericAPIView):
    """A paginated list in the Equinix Metal shape: {"<results_key>": [...], "meta": {...}}."""

    results_key = "results"
    output: Any = None

    def listing(self, request: Request, queryset: QuerySet, **context: Any) -> Response:
        page = self.paginate_queryset(queryset)
        data = self.output(page, many=True, context={"request": request, "viewer": request.user, **context}).data
        return self.get_paginated_response(data)


# ---------------------------------------------------------------------- users

def _user_out(request: Request, user: Any) -> dict[str, Any]:
    org = services.default_organization(user)
    project = projects_for(request).filter(organization=org).order_by("created_at").first() if org is not None else None
    return s.user_repr(user, default_organization=org, default_project=project)


class CurrentUserView(GenericAPIView):
    def get(self, request: Request) -> Response:
        return Response(_user_out(request, request.user))


class UserDetailView(GenericAPIView):
    """Yourself, or someone who shares an organization or a project with you."""

    def get(self, request: Request, pk: Any) -> Response:
        key = key_of("user", pk)
        if key == request.user.pk:
            return Response(_user_out(request, request.user))
        visible = projects_for(request)
        peers = Membership.objects.filter(Q(project__in=visible.values("pk")) | Q(organization__in=visible.values("organization_id")))
        user = get_object_or_404(User.objects.filter(pk__in=peers.values("user_id")), pk=key) if key is not None else None
        if user is None:
            raise Http404
        return Response(s.user_repr(user))


# ---------------------------------------------------------------------- organizations

class OrganizationListView(ListView):
    results_key = "organizations"
    output = s.OrganizationOut

    def get(self, request: Request) -> Response:
        visible = projects_for(request)
        orgs = search_filter(organizations_for(request), request, "name")
        return self.listing(request, orgs.prefetch_related("projects").order_by("name", "pk"),
                            visible_project_ids={p.pk for p in visible})

    def post(self, request: Request) -> Response:
        require_write_token(request)
        require_user_token(request, "create organizations")
        body = s.OrganizationIn(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["name"]
        org = services.organization_create(name=name, slug=f"{slugify(name)[:80] or 'org'}-{secrets.token_hex(3)}", owner=request.user,
                                           actor=actor_of(request))
        return Response(s.OrganizationOut(org, context={"visible_project_ids": set()}).data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(GenericAPIView):
    def _org(self, request: Request, pk: str) -> Organization:
        return get_object_or_404(organizations_for(request), pk=pk)

    def get(self, request: Request, pk: str) -> Response:
        visible = projects_for(request)
        return Response(s.OrganizationOut(self._org(request, pk), context={"visible_project_ids": {p.pk for p in visible}}).data)

    def put(self, request: Request, pk: str) -> Response:
        org = self._org(request, pk)
        require_org_role(request, org, (Role.OWNER, Role.ADMIN), "change the organization")
        body = s.OrganizationUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        org = services.organization_update(organization=org, actor=actor_of(request), **body.validated_data)
        return Response(s.OrganizationOut(org, context={"visible_project_ids": {p.pk for p in projects_for(request)}}).data)

    patch = put

    def delete(self, request: Request, pk: str) -> Response:
        org = self._org(request, pk)
        require_org_role(request, org, (Role.OWNER,), "delete the organization")
        services.organization_delete(organization=org, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------- projects

class ProjectListView(ListView):
    """`name` (exact) and `search` filters: Terraform's project data source asks for "the project named X"."""

    results_key = "projects"
    output = s.ProjectOut

    def get(self, request: Request, org_pk: str | None = None) -> Response:
        qs = projects_for(request)
        if org_pk:
            # Another tenant's organization is a 404, not an empty list (that would confirm it exists).
            get_object_or_404(organizations_for(request), pk=org_pk)
            qs = qs.filter(organization_id=org_pk)
        if request.query_params.get("name"):
            qs = qs.filter(name=request.query_params["name"])
        return self.listing(request, search_filter(qs, request, "name").order_by("name", "pk"))

    def post(self, request: Request, org_pk: str | None = None) -> Response:
        require_write_token(request)
        require_user_token(request, "create projects")
        body = s.ProjectIn(data=request.data)
        body.is_valid(raise_exception=True)
        org_id = org_pk or body.validated_data.get("organization_id")
        if org_id is None:
            org = services.default_organization(request.user)
            if org is None:
                # Like the real service, every user has an organization to put projects in: their own.
                org = services.organization_create(name=f"{request.user.get_username()}'s organization",
                                                   slug=f"{slugify(request.user.get_username())[:80] or 'user'}-{secrets.token_hex(3)}",
                                                   owner=request.user, actor=actor_of(request))
        else:
            role = organization_role(request.user, org_id)
            if role is None:
                raise Http404
            if role not in (Role.OWNER, Role.ADMIN):
                raise PermissionDenied("Creating projects needs the 'admin' or 'owner' role in the organization.")
            org = Organization.objects.get(pk=org_id)
        project = services.project_create(organization=org, name=body.validated_data["name"], actor=actor_of(request))
        return Response(s.ProjectOut(projects_for(request).get(pk=project.pk)).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(s.ProjectOut(get_object_or_404(projects_for(request), pk=pk)).data)

    def put(self, request: Request, pk: str) -> Response:
        """PUT and PATCH take any subset of the fields (Terraform sends only what changed)."""
        project = get_object_or_404(projects_for(request), pk=pk)
        require(request, project, MANAGE)
        body = s.ProjectUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        services.project_update(project=project, actor=actor_of(request), **body.validated_data)
        return Response(s.ProjectOut(get_object_or_404(projects_for(request), pk=pk)).data)

    patch = put

    def delete(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        require(request, project, OWN)
        services.project_delete(project=project, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------- SSH keys

class SSHKeyListView(ListView):
    results_key = "ssh_keys"
    output = s.SSHKeyOut

    def get(self, request: Request, project_pk: str | None = None) -> Response:
        if project_pk:
            project = get_object_or_404(projects_for(request), pk=project_pk)
            return self.listing(request, search_filter(SSHKey.objects.filter(project=project), request, "label", "key").order_by("label", "pk"))
        return self.listing(request, search_filter(keys_for(request), request, "label", "key").order_by("label", "pk"))

    def post(self, request: Request, project_pk: str | None = None) -> Response:
        require_write_token(request)
        body = s.SSHKeyIn(data=request.data)
        body.is_valid(raise_exception=True)
        scope: dict[str, Any] = {"owner": request.user}
        if project_pk:
            project = get_object_or_404(projects_for(request), pk=project_pk)
            require(request, project, WRITE)
            scope = {"project": project}
        key = services.ssh_key_create(label=body.validated_data["label"], key=body.validated_data["key"], actor=actor_of(request), **scope)
        return Response(s.SSHKeyOut(key).data, status=status.HTTP_201_CREATED)


class SSHKeyDetailView(GenericAPIView):
    def _writable(self, request: Request, pk: str) -> SSHKey:
        key = get_object_or_404(keys_for(request), pk=pk)
        require_write_token(request)
        if key.project_id:
            require(request, key.project, WRITE)
        elif key.owner_id != request.user.pk:
            raise Http404
        return key

    def get(self, request: Request, pk: str) -> Response:
        return Response(s.SSHKeyOut(get_object_or_404(keys_for(request), pk=pk)).data)

    def put(self, request: Request, pk: str) -> Response:
        key = self._writable(request, pk)
        body = s.SSHKeyUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        key = services.ssh_key_update(ssh_key=key, actor=actor_of(request), **body.validated_data)
        return Response(s.SSHKeyOut(key).data)

    patch = put

    def delete(self, request: Request, pk: str) -> Response:
        services.ssh_key_delete(ssh_key=self._writable(request, pk), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------- API keys

class APIKeyListView(ListView):
    results_key = "api_keys"
    output = s.APIKeyOut

    def _scope(self, request: Request, project_pk: str | None) -> Project | None:
        # A project-scoped token manages no tokens at all: not its user's, not its project's (nor itself).
        require_user_token(request, "manage API keys")
        if not project_pk:
            return None
        project = get_object_or_404(projects_for(request), pk=project_pk)
        require(request, project, MANAGE)
        return project

    def get(self, request: Request, project_pk: str | None = None) -> Response:
        project = self._scope(request, project_pk)
        qs = APIToken.objects.filter(project=project) if project else APIToken.objects.filter(user=request.user, project__isnull=True)
        return self.listing(request, qs.filter(revoked_at__isnull=True).order_by("-created_at", "pk"))

    def post(self, request: Request, project_pk: str | None = None) -> Response:
        require_write_token(request)
        project = self._scope(request, project_pk)
        body = s.APIKeyIn(data=request.data)
        body.is_valid(raise_exception=True)
        token, _ = services.api_token_create(user=request.user, project=project, actor=actor_of(request),
                                             description=body.validated_data.get("description") or "",
                                             read_only=bool(body.validated_data.get("read_only")))
        return Response(s.APIKeyOut(token, context={"viewer": request.user}).data, status=status.HTTP_201_CREATED)


class APIKeyDetailView(GenericAPIView):
    def delete(self, request: Request, pk: str) -> Response:
        require_write_token(request)
        require_user_token(request, "manage API keys")
        visible_manage = [p.pk for p in projects_for(request) if p.role_rank >= 3]
        token = get_object_or_404(APIToken.objects.filter(Q(user=request.user) | Q(project_id__in=visible_manage)), pk=pk)
        services.api_token_revoke(token=token, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
