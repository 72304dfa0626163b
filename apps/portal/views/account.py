"""The user's own things: their projects, personal SSH keys, API tokens (shown once), invoices; the project switcher."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.models import APIToken, Invitation, SSHKey
from apps.accounts.selectors import RANK_ROLE, visible_projects
from apps.billing import selectors as billing
from apps.portal.controls import refused
from apps.portal.forms import APITokenForm, SSHKeyForm
from apps.portal.views.common import FORM_ERRORS_STATUS, add_errors, paginate, project_for


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects, projects_query = paginate(request, visible_projects(request.user).order_by("organization__name", "name"), param="projects")
    keys, keys_query = paginate(request, SSHKey.objects.filter(owner=request.user).order_by("label", "pk"), param="keys")
    tokens, tokens_query = paginate(request, APIToken.objects.filter(user=request.user, project__isnull=True, revoked_at__isnull=True)
                                    .order_by("-created_at", "pk"), param="tokens")
    invoices, invoices_query = paginate(request, billing.visible_invoices(request.user).select_related("organization")
                                        .order_by("-period_start", "pk"), per_page=12, param="invoices")
    return render(request, "portal/dashboard.html", {
        "invitations": _my_invitations(request).select_related("organization").prefetch_related("projects").order_by("-created_at")[:20],
        "projects": [(p, RANK_ROLE[p.role_rank]) for p in projects], "projects_page": projects, "projects_query": projects_query,
        "keys": keys, "keys_query": keys_query, "tokens": tokens, "tokens_query": tokens_query,
        "key_form": SSHKeyForm(), "token_form": APITokenForm(),
        "invoices": invoices, "invoices_query": invoices_query,
    })


def _my_invitations(request: HttpRequest) -> QuerySet[Invitation]:
    """Invitations to the signed-in user's own e-mail address (an address nobody has matches nothing)."""
    email = (request.user.email or "").strip().lower()
    return Invitation.objects.filter(invitee=email) if email else Invitation.objects.none()


@login_required
@require_POST
def invitation_answer(request: HttpRequest, pk: str, answer: str) -> HttpResponse:
    """The invitee accepts (joins with the invited role) or declines; anyone else's invitation is a 404."""
    invitation = get_object_or_404(_my_invitations(request).select_related("organization"), pk=pk)
    if answer == "accept":
        try:
            services.invitation_accept(invitation=invitation, user=request.user, actor=request.user)
        except ValidationError as exc:  # e.g. it would demote the project's last owner: nothing changed, say why
            messages.error(request, " ".join(exc.messages))
            return redirect("portal:dashboard")
        messages.success(request, f"You joined {invitation.organization.name} as {invitation.role}.")
    else:
        services.invitation_delete(invitation=invitation, actor=request.user)
        messages.success(request, f"You declined the invitation to {invitation.organization.name}.")
    return redirect("portal:dashboard")


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """The switcher's target: the chosen project's servers (only among the user's own projects)."""
    wanted = request.GET.get("project", "")
    if not wanted:
        return redirect("portal:dashboard")
    try:
        project = project_for(request, wanted)
    except ValidationError:
        return redirect("portal:dashboard")
    return redirect("portal:project", pk=project.pk)


@login_required
def invoice_detail(request: HttpRequest, pk: str) -> HttpResponse:
    invoice = get_object_or_404(billing.visible_invoices(request.user).select_related("organization"), pk=pk)
    return render(request, "portal/invoice.html", {"invoice": invoice, "lines": invoice.lines.select_related("project")})


@login_required
def ssh_key_add(request: HttpRequest) -> HttpResponse:
    form = SSHKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ssh_key_create(owner=request.user, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, f"Key '{form.cleaned_data['label']}' added.")
            return redirect("portal:dashboard")
    return render(request, "portal/ssh_key_form.html", {"form": form}, status=FORM_ERRORS_STATUS)


@login_required
@require_POST
def ssh_key_delete(request: HttpRequest, pk: str) -> HttpResponse:
    projects = visible_projects(request.user)
    key = get_object_or_404(SSHKey.objects.filter(owner=request.user) | SSHKey.objects.filter(project__in=projects), pk=pk)
    if key.project_id and (refusal := refused(request, projects.get(pk=key.project_id), "project_keys", "keys")) is not None:
        return refusal
    services.ssh_key_delete(ssh_key=key, actor=request.user)
    messages.success(request, f"Key '{key.label}' removed.")
    return redirect("portal:project-keys", pk=key.project_id) if key.project_id else redirect("portal:dashboard")


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    """The token's text is shown on this response only: Metalyard keeps its hash."""
    form = APITokenForm(request.POST)
    if form.is_valid():
        _, plaintext = services.api_token_create(user=request.user, actor=request.user, **form.cleaned_data)
        response = render(request, "portal/token_created.html", {"plaintext": plaintext})
        response["Cache-Control"] = "no-store"
        return response
    messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("portal:dashboard")


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    token = get_object_or_404(APIToken.objects.filter(user=request.user), pk=pk)
    services.api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.key_preview}… revoked.")
    return redirect("portal:dashboard")
