"""Deploy a server: what is available where, the operating systems the plan allows, the keys that will go on
it (by the one rule every face uses), field errors beside the fields. The order goes through `device_create`,
the service the API calls, so nothing is half-created when it is refused."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.text import slugify

from apps.accounts.models import Project
from apps.accounts.selectors import device_default_ssh_keys
from apps.hardware.models import Server, ServerState
from apps.installs.models import Device, DeviceState
from apps.installs.services import orders
from apps.installs.services.reservations import unreserved
from apps.portal.controls import refused
from apps.portal.forms import DeployForm
from apps.portal.views.common import FORM_ERRORS_STATUS, add_errors, project_for, render_project

# A service's field name → the deploy form's field that shows its error.
FIELD_ALIASES = {"metro": "location", "facility": "location", "project_ssh_keys": "ssh_keys", "user_ssh_keys": "ssh_keys",
                 "no_ssh_keys": "ssh_keys", "hardware_reservation_id": None}


def available_now() -> dict[tuple[str, str], int]:
    """Ready servers no reservation holds, by (plan, facility): what an on-demand order can get right now (one query)."""
    ready = unreserved(Server.objects.filter(state=ServerState.READY))
    return {(row["plan__slug"], row["facility__code"]): row["n"]
            for row in ready.values("plan__slug", "facility__code").annotate(n=Count("pk")).order_by()}


def suggested_hostname(project: Project) -> str:
    count = Device.objects.filter(project=project).exclude(state=DeviceState.DELETED).count()
    return f"{slugify(project.name)[:40] or 'server'}-{count + 1:02d}"


def _form(project: Project, data: Any = None, initial: dict[str, Any] | None = None) -> DeployForm:
    return DeployForm(data, initial=initial or {}, key_choices=list(device_default_ssh_keys(project)), available=available_now())


def _with_location(data: QueryDict) -> QueryDict:
    """A post that names `facility` or `metro` (as the API does) instead of the form's `location` means the same."""
    if data.get("location") or not (data.get("facility") or data.get("metro")):
        return data
    data = data.copy()
    data["location"] = f"facility:{data['facility']}" if data.get("facility") else f"metro:{data['metro']}"
    return data


def _availability_table(form: DeployForm, available: dict[tuple[str, str], int]) -> list[tuple[str, list[int]]]:
    facilities = list(form.facilities)
    return [(slug, [available.get((slug, code), 0) for code in facilities]) for slug in form.plans]


@login_required
def deploy(request: HttpRequest, pk: str) -> HttpResponse:
    project = project_for(request, pk)
    if request.method == "POST":
        if (refusal := refused(request, project, "deploy", "deploy")) is not None:
            return refusal
        form = _form(project, _with_location(request.POST))
        if form.is_valid():
            try:
                device = orders.device_create(project=project, actor=request.user, **form.order())
            except ValidationError as exc:
                add_errors(form, exc, {k: v for k, v in FIELD_ALIASES.items() if v})
            else:
                messages.success(request, f"{device.hostname} is queued; it will be active in a few minutes.")
                return redirect("portal:device", pk=device.pk)
        status = FORM_ERRORS_STATUS
    else:
        form = _form(project, initial={"hostname": suggested_hostname(project), "plan": request.GET.get("plan", "")})
        status = 200
    available = available_now()
    return render_project(request, "portal/deploy.html", project, "deploy", {
        "form": form, "facility_codes": list(form.facilities),
        "availability": _availability_table(form, available),
    }, status=status)


@login_required
def deploy_choices(request: HttpRequest, pk: str) -> HttpResponse:
    """The plan-dependent part of the deploy form (locations with what is ready there, operating systems the
    plan allows), fetched by htmx when the plan changes."""
    project = project_for(request, pk)
    form = _form(project, initial={"plan": request.GET.get("plan", ""), "location": request.GET.get("location", ""),
                                   "operating_system": request.GET.get("operating_system", "")})
    return render(request, "portal/_deploy_choices.html", {"form": form})
