"""Memberships and invitations in Equinix Metal shapes. A membership here is a user's role in a
project or in a whole organization; admins of the project (or organization) manage them."""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.api.views import ListView, organizations_for, projects_for, require_org_role, require_user_token
from apps.accounts.models import Invitation, Membership, Role
from apps.accounts.permissions import actor_of, request_token, require, require_write_token
from apps.accounts.selectors import MANAGE, can, organization_role
from project.public_ids import key_of


def memberships_for(request: Request) -> QuerySet[Membership]:
    visible = projects_for(request)
    return (Membership.objects.filter(Q(project__in=visible.values("pk")) | Q(organization__in=organizations_for(request).values("pk")))
            .select_related("user", "project", "organization"))


class ProjectMembershipListView(ListView):
    """The project's members: those of the project itself and those of its organization."""

    results_key = "memberships"
    output = s.MembershipOut

    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        members = Membership.objects.filter(Q(project=project) | Q(organization_id=project.organization_id)).select_related("user")
        return self.listing(request, members.order_by("created_at", "pk"))


class MembershipDetailView(GenericAPIView):
    def _membership(self, request: Request, pk: Any) -> Membership:
        key = key_of("membership", pk)
        if key is None:
            raise Http404
        return get_object_or_404(memberships_for(request), pk=key)

    def _require_manage(self, request: Request, membership: Membership) -> None:
        require_write_token(request)
        if membership.project_id:
            require(request, membership.project, MANAGE)
        elif organization_role(request.user, membership.organization_id) not in (Role.OWNER, Role.ADMIN):
            raise PermissionDenied("Changing organization members needs the admin or owner role.")

    def get(self, request: Request, pk: Any) -> Response:
        return Response(s.MembershipOut(self._membership(request, pk)).data)

    def put(self, request: Request, pk: Any) -> Response:
        membership = self._membership(request, pk)
        self._require_manage(request, membership)
        body = s.MembershipUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        role = s.ROLE_NAMES.get(body.validated_data["roles"][0], body.validated_data["roles"][0])
        scope = {"project": membership.project} if membership.project_id else {"organization": membership.organization}
        membership = services.membership_set(user=membership.user, role=role, actor=actor_of(request), **scope)
        return Response(s.MembershipOut(membership).data)

    patch = put

    def delete(self, request: Request, pk: Any) -> Response:
        membership = self._membership(request, pk)
        if membership.user_id != request.user.pk:  # anyone may leave; removing others needs the role
            self._require_manage(request, membership)
        services.membership_remove(membership=membership, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def invitations_for(request: Request) -> QuerySet[Invitation]:
    """Invitations the caller may see: those of organizations they administer, and those addressed to them."""
    admin_orgs = [o.pk for o in organizations_for(request) if organization_role(request.user, o.pk) in (Role.OWNER, Role.ADMIN)]
    mine = Q(invitee=(request.user.email or "").strip().lower()) if request.user.email else Q(pk__in=[])
    return Invitation.objects.filter(Q(organization_id__in=admin_orgs) | mine).prefetch_related("projects")


class OrganizationInvitationListView(ListView):
    results_key = "invitations"
    output = s.InvitationOut

    def get(self, request: Request, pk: str) -> Response:
        org = get_object_or_404(organizations_for(request), pk=pk)
        return self.listing(request, invitations_for(request).filter(organization=org).order_by("-created_at", "pk"))

    def post(self, request: Request, pk: str) -> Response:
        org = get_object_or_404(organizations_for(request), pk=pk)
        require_org_role(request, org, (Role.OWNER, Role.ADMIN), "invite people to the organization")
        return _invite(request, org, projects=None)


class ProjectInvitationListView(ListView):
    results_key = "invitations"
    output = s.InvitationOut

    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        require(request, project, MANAGE)
        return self.listing(request, invitations_for(request).filter(projects=project).order_by("-created_at", "pk"))

    def post(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(projects_for(request), pk=pk)
        require_write_token(request)
        require(request, project, MANAGE)
        return _invite(request, project.organization, projects=[project])


def _invite(request: Request, org: Any, projects: list[Any] | None) -> Response:
    body = s.InvitationIn(data=request.data)
    body.is_valid(raise_exception=True)
    wanted = list(projects or [])
    if projects is None and body.validated_data.get("projects_ids"):
        visible = projects_for(request).filter(organization=org)
        wanted = list(visible.filter(pk__in=body.validated_data["projects_ids"]))
        if len(wanted) != len(set(body.validated_data["projects_ids"])):
            raise Http404
        if not all(can(request.user, p, MANAGE, request_token(request)) for p in wanted):
            raise PermissionDenied("Inviting to a project needs the admin role there.")
    role = s.ROLE_NAMES[body.validated_data["roles"][0]]
    invitation = services.invitation_create(organization=org, invitee=body.validated_data["invitee"], role=role, projects=wanted,
                                            actor=actor_of(request))
    return Response(s.InvitationOut(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(GenericAPIView):
    """GET; PUT accepts (the invitee); DELETE declines (the invitee) or withdraws (an admin)."""

    def get(self, request: Request, pk: str) -> Response:
        return Response(s.InvitationOut(get_object_or_404(invitations_for(request), pk=pk)).data)

    def put(self, request: Request, pk: str) -> Response:
        invitation = get_object_or_404(invitations_for(request), pk=pk)
        require_write_token(request)
        require_user_token(request, "accept invitations")
        memberships = services.invitation_accept(invitation=invitation, user=request.user, actor=actor_of(request))
        return Response(s.MembershipOut(memberships[0]).data)

    def delete(self, request: Request, pk: str) -> Response:
        invitation = get_object_or_404(invitations_for(request), pk=pk)
        require_write_token(request)
        services.invitation_delete(invitation=invitation, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserInvitationListView(ListView):
    results_key = "invitations"
    output = s.InvitationOut

    def get(self, request: Request) -> Response:
        mine = (request.user.email or "").strip().lower()
        return self.listing(request, Invitation.objects.filter(invitee=mine).prefetch_related("projects").order_by("-created_at", "pk")
                            if mine else Invitation.objects.none())
