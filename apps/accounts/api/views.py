"""The customer API for the current user, organizations, projects, SSH keys and API keys.
Every queryset starts from what the caller may see; everything else is 404."""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.models import APIToken, Organization, Project, Role, SSHKey
from apps.accounts.permissions import actor_of, request_token, require, require_write_token
from apps.accounts.selectors import MANAGE, OWN, WRITE, organization_role, visible_projects


def projects_for(request: Request) -> QuerySet[Project]:
    return visible_projects(request.user, request_token(request)).prefetch_related("ssh_keys")


def keys_for(request: Request) -> QuerySet[SSHKey]:
    project_ids = projects_for(request).values("pk")
    mine = Q(owner=request.user) if request_token(request) is None or not request_token(request).project_id else Q(pk__in=[])
    return SSHKey.objects.filter(mine | Q(project_id__in=project_ids))


class ListView(GenericAPIView):
    """A paginated list in the Equinix Metal shape: {"<results_key>": [...], "meta": {...}}."""

    results_key = "results"
    output = None

    def listing(self, request: Request, queryset: QuerySet, **context: Any) -> Response:
        page = self.paginate_queryset(queryset)
        data = self.output(page, many=True, context={"request": request, **context}).data
        return self.get_paginated_response(data)


class CurrentUserView(GenericAPIView):
    def get(self, request: Request) -> Response:
        return Response(s.UserOut(request.user).data)


class OrganizationListView(ListView):
    results_key = "organizations"
    output = s.OrganizationOut

    def get(self, request: Request) -> Response:
        visible = projects_for(request)
        orgs = Organization.objects.filter(Q(pk__in=visible.values("organization_id")) | Q(memberships__user=request.user)).distinct()
        if request_token(request) is not None and request_token(request).project_id:
            orgs = orgs.filter(pk__in=visible.values("organization_id"))
        return self.listing(request, orgs.prefetch_related("projects"), visible_project_ids={p.pk for p in visible})


class OrganizationDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        visible = projects_for(request)
        org = get_object_or_404(Organization.objects.filter(Q(pk__in=visible.values("organization_id")) | Q(memberships__user=request.user))
                                .distinct(), pk=pk)
        return Response(s.OrganizationOut(org, context={"visible_project_ids": {p.pk for p in visible}}).data)


class ProjectListView(ListView):
    results_key = "projects"
    output = s.ProjectOut

    def get(self, request: Request, org_pk: str | None = None) -> Response:
        qs = projects_for(request)
        if org_pk:
            qs = qs.filter(organization_id=org_pk)
        return self.listing(request, qs.order_by("name"))

    def post(self, request: Request, org_pk: str | None = None) -> Response:
        require_write_token(request)
        body = s.ProjectIn(data=request.data)
        body.is_valid(raise_exception=True)
        org_id = org_pk or body.validated_data.get("organization_id")
        if org_id is None:
            raise ValidationError({"organization_id": ["Give the organization the project belongs to."]})
        if request_token(request) is not None and request_token(request).project_id:
            raise PermissionDenied("A project-scoped API token cannot create projects.")
        role = organization_role(request.user, org_id)
        if role is None:
            raise Http404
        if role not in (Role.OWNER, Role.ADMIN):
            raise PermissionDenied("Creating projects needs the 'admin' or 'owner' role in the organization.")
        project = services.project_create(organization=Organization.objects.get(pk=org_id), name=body.validated_data["name"],
                                          actor=actor_of(request))
        project = projects_for(request).get(pk=project.pk)
        return Response(s.ProjectOut(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(s.ProjectOut(get_object_or_404(projects_for(request), pk=pk)).data)

    def put(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        require(request, project, MANAGE)
        body = s.ProjectUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        services.project_update(project=project, name=body.validated_data["name"], actor=actor_of(request))
        return Response(s.ProjectOut(get_object_or_404(projects_for(request), pk=pk)).data)

    patch = put

    def delete(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        require(request, project, OWN)
        services.project_delete(project=project, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SSHKeyListView(ListView):
    results_key = "ssh_keys"
    output = s.SSHKeyOut

    def get(self, request: Request, project_pk: str | None = None) -> Response:
        if project_pk:
            project = get_object_or_404(projects_for(request), pk=project_pk)
            return self.listing(request, SSHKey.objects.filter(project=project))
        return self.listing(request, keys_for(request))

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


class APIKeyListView(ListView):
    results_key = "api_keys"
    output = s.APIKeyOut

    def _scope(self, request: Request, project_pk: str | None) -> Project | None:
        if not project_pk:
            if request_token(request) is not None and request_token(request).project_id:
                raise PermissionDenied("A project-scoped API token cannot manage user API keys.")
            return None
        project = get_object_or_404(projects_for(request), pk=project_pk)
        require(request, project, MANAGE)
        return project

    def get(self, request: Request, project_pk: str | None = None) -> Response:
        project = self._scope(request, project_pk)
        qs = APIToken.objects.filter(project=project) if project else APIToken.objects.filter(user=request.user, project__isnull=True)
        return self.listing(request, qs.filter(revoked_at__isnull=True))

    def post(self, request: Request, project_pk: str | None = None) -> Response:
        require_write_token(request)
        project = self._scope(request, project_pk)
        body = s.APIKeyIn(data=request.data)
        body.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(user=request.user, project=project, actor=actor_of(request), **body.validated_data)
        return Response(s.APIKeyOut(token, context={"plaintext": plaintext}).data, status=status.HTTP_201_CREATED)


class APIKeyDetailView(GenericAPIView):
    def delete(self, request: Request, pk: str) -> Response:
        require_write_token(request)
        visible_manage = [p.pk for p in projects_for(request) if p.role_rank >= 3]
        token = get_object_or_404(APIToken.objects.filter(Q(user=request.user) | Q(project_id__in=visible_manage)), pk=pk)
        services.api_token_revoke(token=token, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

