"""A project's settings: its API tokens (scoped to the project, whoever created them), listed, created — the token
shown once, on the response that created it — and revoked, by the project's admins and owners, through the services
the API's /projects/{id}/api-keys calls."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.models import APIToken
from apps.portal.controls import may, refused
from apps.portal.forms import APITokenForm
from apps.portal.views.common import FORM_ERRORS_STATUS, paginate, project_for, render_project

TAB = "settings"


def _settings_page(request: HttpRequest, project: object, form: APITokenForm, status: int = 200) -> HttpResponse:
    tokens = APIToken.objects.none()
    if may(request.user, project, "project_tokens"):
        tokens = APIToken.objects.filter(project=project, revoked_at__isnull=True).select_related("user").order_by("-created_at", "pk")
    page, query = paginate(request, tokens)
    return render_project(request, "portal/project_settings.html", project, TAB,  # type: ignore[arg-type]
                          {"page_obj": page, "query": query, "token_form": form}, status=status)


@login_required
def project_settings(request: HttpRequest, pk: str) -> HttpResponse:
    return _settings_page(request, project_for(request, pk), APITokenForm())


@login_required
@require_POST
def project_token_create(request: HttpRequest, pk: str) -> HttpResponse:
    """The token's text is on this response only (no-store): Metalyard keeps its hash and, encrypted, the text for
    the user who made it."""
    project = project_for(request, pk)
    if (refusal := refused(request, project, "project_tokens", TAB)) is not None:
        return refusal
    form = APITokenForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, project, form, status=FORM_ERRORS_STATUS)
    token, plaintext = services.api_token_create(user=request.user, project=project, actor=request.user, **form.cleaned_data)
    response = render_project(request, "portal/token_created.html", project, TAB, {"plaintext": plaintext, "token": token})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def project_token_revoke(request: HttpRequest, pk: str, token_pk: str) -> HttpResponse:
    project = project_for(request, pk)
    token = get_object_or_404(APIToken.objects.filter(project=project), pk=token_pk)
    if (refusal := refused(request, project, "project_tokens", TAB)) is not None:
        return refusal
    services.api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.key_preview}… revoked; scripts using it get 401 from now on.")
    return redirect("portal:project-settings", pk=project.pk)
