"""What every portal page shares: the project from the user's own projects (another tenant's is a 404), who
the user is (and, when they cannot change anything, which role could), pagination, errors."""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.accounts.models import Project
from apps.accounts.permissions import refusal_message
from apps.accounts.selectors import RANK_ROLE, WRITE, can, visible_projects

PER_PAGE = 25
# A page that shows a form again with its errors answers 200: the errors beside the fields are the page's content,
# and a browser logs any 4xx page load as a console error. (The API answers 422 with the same field errors.)
FORM_ERRORS_STATUS = 200


def project_for(request: HttpRequest, pk: Any) -> Project:
    """The project `pk` among the user's own projects (annotated with the user's role), or 404."""
    return get_object_or_404(visible_projects(request.user), pk=pk)


def project_context(request: HttpRequest, project: Project, tab: str) -> dict[str, Any]:
    """The header every project page shows: the user's role and, when it cannot change anything, the role that
    could. (Which controls the page shows is each control's own declaration: apps.portal.controls.)"""
    return {
        "project": project, "role": RANK_ROLE[project.role_rank], "tab": tab,
        "can_write": can(request.user, project, WRITE), "write_refusal": refusal_message(project, WRITE),
    }


def render_project(request: HttpRequest, template: str, project: Project, tab: str, context: dict[str, Any],
                   status: int = 200) -> HttpResponse:
    return render(request, template, {**project_context(request, project, tab), **context}, status=status)


def paginate(request: HttpRequest, rows: QuerySet[Any] | list[Any], per_page: int = PER_PAGE,
             param: str = "page") -> tuple[Page, str]:
    """A page of `rows` and the query string (without `param`) that the page links keep."""
    page = Paginator(rows, per_page).get_page(request.GET.get(param))
    params = request.GET.copy()
    params.pop(param, None)
    query = params.urlencode()
    return page, f"{query}&" if query else ""


def add_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """A service's ValidationError onto the form: each field's message beside that field (`aliases` maps a
    service's field name to the form's), the rest at the top."""
    aliases = aliases or {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = aliases.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def error_text(exc: Exception) -> str:
    messages = getattr(exc, "messages", None)
    return " ".join(messages) if messages else str(exc)
