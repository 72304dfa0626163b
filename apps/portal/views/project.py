"""A project's people and history: its SSH keys, members and roles (owners and admins invite by e-mail, change
roles, remove), its events (the audit log of the project and everything in it), its usage this month."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.models import ROLE_RANK, Invitation, Membership, Project, SSHKey
from apps.audit.models import AuditEvent
from apps.billing import selectors as billing
from apps.installs.models import Device
from apps.ipam.models import Block
from apps.portal.controls import refused
from apps.portal.forms import InviteForm, RoleForm, SSHKeyForm
from apps.portal.views.common import FORM_ERRORS_STATUS, add_errors, error_text, paginate, project_for, render_project


@login_required
def project_keys(request: HttpRequest, pk: str) -> HttpResponse:
    project = project_for(request, pk)
    form = SSHKeyForm()
    status = 200
    if request.method == "POST":
        if (refusal := refused(request, project, "project_keys", "keys")) is not None:
            return refusal
        form = SSHKeyForm(request.POST)
        if form.is_valid():
            try:
                services.ssh_key_create(project=project, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, f"Key '{form.cleaned_data['label']}' added to {project.name}.")
                return redirect("portal:project-keys", pk=project.pk)
        status = FORM_ERRORS_STATUS
    page, query = paginate(request, SSHKey.objects.filter(project=project).order_by("label", "pk"))
    return render_project(request, "portal/project_keys.html", project, "keys", {"page_obj": page, "query": query, "key_form": form},
                          status=status)


@login_required
def usage(request: HttpRequest, pk: str) -> HttpResponse:
    project = project_for(request, pk)
    month_start, now = billing.month_to_date()
    rows = billing.project_usage(project_id=project.pk, window_start=month_start, window_end=now)
    return render_project(request, "portal/usage.html", project, "usage", {
        "usage": rows, "usage_total": sum(u.total for u in rows), "usage_since": month_start})


def _assignable_roles(request: HttpRequest, project: Project) -> list[tuple[str, str]]:
    """The roles this user may hand out here: none above their own."""
    own = project.role_rank
    return [(value, label) for value, label in RoleForm.base_fields["role"].choices if ROLE_RANK[value] <= own]


@login_required
def members(request: HttpRequest, pk: str) -> HttpResponse:
    project = project_for(request, pk)
    rows = (Membership.objects.filter(Q(project=project) | Q(organization_id=project.organization_id))
            .select_related("user").order_by("user__username", "pk"))
    page, query = paginate(request, rows)
    return render_project(request, "portal/members.html", project, "members", {
        "page_obj": page, "query": query, "invite_form": InviteForm(), "roles": _assignable_roles(request, project),
        "invitations": Invitation.objects.filter(projects=project).order_by("-created_at")[:50],
    })


def _manage_or_403(request: HttpRequest, project: Project) -> HttpResponse | None:
    return refused(request, project, "members", "members")


@login_required
@require_POST
def member_invite(request: HttpRequest, pk: str) -> HttpResponse:
    project = project_for(request, pk)
    if (refused := _manage_or_403(request, project)) is not None:
        return refused
    form = InviteForm(request.POST)
    if form.is_valid() and ROLE_RANK[form.cleaned_data["role"]] > project.role_rank:
        form.add_error("role", "You cannot invite someone with a higher role than your own.")
    if form.is_valid():
        try:
            services.invitation_create(organization=project.organization, invitee=form.cleaned_data["email"],
                                       role=form.cleaned_data["role"], projects=[project], actor=request.user)
        except ValidationError as exc:
            add_errors(form, exc, {"invitee": "email", "roles": "role"})
        else:
            messages.success(request, f"{form.cleaned_data['email']} is invited as {form.cleaned_data['role']}; "
                                      "they join when they sign in with that address and accept.")
            return redirect("portal:members", pk=project.pk)
    rows = Membership.objects.filter(Q(project=project) | Q(organization_id=project.organization_id)).select_related("user")
    page, query = paginate(request, rows.order_by("user__username", "pk"))
    return render_project(request, "portal/members.html", project, "members", {
        "page_obj": page, "query": query, "invite_form": form, "roles": _assignable_roles(request, project),
        "invitations": Invitation.objects.filter(projects=project).order_by("-created_at")[:50]}, status=FORM_ERRORS_STATUS)


def _project_membership(project: Project, membership_pk: int) -> Membership:
    """Only this project's own memberships are changed here (organization roles belong to the organization)."""
    return get_object_or_404(Membership.objects.filter(project=project).select_related("user"), pk=membership_pk)


@login_required
@require_POST
def member_role(request: HttpRequest, pk: str, membership_pk: int) -> HttpResponse:
    project = project_for(request, pk)
    membership = _project_membership(project, membership_pk)
    if (refused := _manage_or_403(request, project)) is not None:
        return refused
    form = RoleForm(request.POST)
    if (outranked := _outranked(request, project, membership)) is not None:
        return outranked
    if not form.is_valid() or ROLE_RANK[form.cleaned_data["role"]] > project.role_rank:
        messages.error(request, "Choose a role no higher than your own.")
        return redirect("portal:members", pk=project.pk)
    try:
        services.membership_set(user=membership.user, project=project, role=form.cleaned_data["role"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}.")
    return redirect("portal:members", pk=project.pk)


def _outranked(request: HttpRequest, project: Project, membership: Membership) -> HttpResponse | None:
    """Nobody changes or removes a member whose role is above their own (an admin does not demote an owner)."""
    if ROLE_RANK[membership.role] <= project.role_rank:
        return None
    return render_project(request, "portal/refused.html", project, "members",
                          {"reason": f"{membership.user.get_username()} is {membership.role}, above your role here."}, status=403)


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: str, membership_pk: int) -> HttpResponse:
    project = project_for(request, pk)
    membership = _project_membership(project, membership_pk)
    if (refused := _manage_or_403(request, project)) is not None:
        return refused
    if (outranked := _outranked(request, project, membership)) is not None:
        return outranked
    try:
        services.membership_remove(membership=membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{membership.user.get_username()} no longer has a role in {project.name}.")
    return redirect("portal:members", pk=project.pk)


@login_required
@require_POST
def invitation_withdraw(request: HttpRequest, pk: str, invitation_pk: str) -> HttpResponse:
    project = project_for(request, pk)
    invitation = get_object_or_404(Invitation.objects.filter(projects=project), pk=invitation_pk)
    if (refused := _manage_or_403(request, project)) is not None:
        return refused
    services.invitation_delete(invitation=invitation, actor=request.user)
    messages.success(request, f"The invitation of {invitation.invitee} is withdrawn.")
    return redirect("portal:members", pk=project.pk)


EVENT_KINDS = [("device", "servers"), ("ipam", "addresses"), ("membership", "members"), ("sshkey", "SSH keys"), ("project", "the project")]


@login_required
def events(request: HttpRequest, pk: str) -> HttpResponse:
    """The audit log of the project, its servers, addresses, keys and memberships, newest first, 25 to a page."""
    project = project_for(request, pk)
    types = ContentType.objects.get_for_models(Project, Device, SSHKey, Membership, for_concrete_models=False)

    def ids(queryset: object) -> object:
        return queryset.annotate(text_id=Cast("pk", CharField())).values("text_id")  # type: ignore[attr-defined]

    scope = (Q(target_type=types[Project], target_id=str(project.pk))
             | Q(target_type=types[Device], target_id__in=ids(Device.objects.filter(project=project)))
             | Q(target_type__app_label="ipam", target_id__in=ids(Block.objects.filter(project=project)))
             | Q(target_type=types[SSHKey], target_id__in=ids(SSHKey.objects.filter(project=project)))
             | Q(target_type=types[Membership], target_id__in=ids(Membership.objects.filter(project=project))))
    kind = request.GET.get("kind", "")
    rows = AuditEvent.objects.filter(scope).select_related("target_type").order_by("-time", "-id")
    if kind == "ipam":
        rows = rows.filter(target_type__app_label="ipam")
    elif kind in {"device", "sshkey", "membership", "project"}:
        rows = rows.filter(target_type__model=kind)
    page, query = paginate(request, rows)
    return render_project(request, "portal/events.html", project, "events", {"page_obj": page, "query": query, "kind": kind, "kinds": EVENT_KINDS})
