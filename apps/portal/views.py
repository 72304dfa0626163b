"""Customer self-service pages. Every view starts from the projects the user may see."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import services
from apps.accounts.models import APIToken, SSHKey
from apps.accounts.selectors import MANAGE, RANK_ROLE, WRITE, can, visible_projects
from apps.billing import selectors as billing
from apps.installs import actions
from apps.installs import selectors as install_selectors
from apps.installs.models import Device
from apps.installs.selectors import visible_devices
from apps.installs.services import orders
from apps.portal.forms import APITokenForm, DeviceOrderForm, SSHKeyForm
from project.states import StateConflict


def _add_errors(form: SSHKeyForm | APITokenForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = visible_projects(request.user).order_by("organization__name", "name")
    return render(request, "portal/dashboard.html", {
        "projects": [(p, RANK_ROLE[p.role_rank]) for p in projects],
        "keys": SSHKey.objects.filter(owner=request.user),
        "tokens": APIToken.objects.filter(user=request.user, project__isnull=True, revoked_at__isnull=True),
        "key_form": SSHKeyForm(), "token_form": APITokenForm(),
        "invoices": billing.visible_invoices(request.user).select_related("organization").order_by("-period_start")[:24],
    })


@login_required
def invoice_detail(request: HttpRequest, pk: str) -> HttpResponse:
    invoice = get_object_or_404(billing.visible_invoices(request.user).select_related("organization"), pk=pk)
    return render(request, "portal/invoice.html", {"invoice": invoice, "lines": invoice.lines.select_related("project")})


@login_required
def project_detail(request: HttpRequest, pk: str) -> HttpResponse:
    project = get_object_or_404(visible_projects(request.user), pk=pk)
    key_form = SSHKeyForm()
    if request.method == "POST":
        if not can(request.user, project, WRITE):
            messages.error(request, "Adding project keys needs the collaborator role or higher.")
            return redirect("portal:project", pk=project.pk)
        key_form = SSHKeyForm(request.POST)
        if key_form.is_valid():
            try:
                services.ssh_key_create(project=project, actor=request.user, **key_form.cleaned_data)
            except ValidationError as exc:
                _add_errors(key_form, exc)
            else:
                messages.success(request, f"Key '{key_form.cleaned_data['label']}' added to {project.name}.")
                return redirect("portal:project", pk=project.pk)
    devices = visible_devices(request.user).filter(project=project).order_by("-created_at")
    month_start, now = billing.month_to_date()
    usage = billing.project_usage(project_id=project.pk, window_start=month_start, window_end=now)
    return render(request, "portal/project.html", {
        "usage": usage, "usage_total": sum(u.total for u in usage), "usage_since": month_start,
        "project": project, "role": RANK_ROLE[project.role_rank],
        "devices": [(d, _percentage(d)) for d in devices], "order_form": DeviceOrderForm(),
        "can_write": can(request.user, project, WRITE), "can_manage": can(request.user, project, MANAGE),
        "members": project.memberships.select_related("user"),
        "org_members": project.organization.memberships.select_related("user"),
        "keys": project.ssh_keys.all(), "key_form": key_form,
    })


@login_required
def ssh_key_add(request: HttpRequest) -> HttpResponse:
    form = SSHKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ssh_key_create(owner=request.user, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Key '{form.cleaned_data['label']}' added.")
            return redirect("portal:dashboard")
    return render(request, "portal/ssh_key_form.html", {"form": form}, status=422 if request.method == "POST" else 200)


@login_required
@require_POST
def ssh_key_delete(request: HttpRequest, pk: str) -> HttpResponse:
    projects = visible_projects(request.user)
    key = get_object_or_404(SSHKey.objects.filter(owner=request.user) | SSHKey.objects.filter(project__in=projects), pk=pk)
    if key.project_id and not can(request.user, key.project, WRITE):
        messages.error(request, "Removing project keys needs the collaborator role or higher.")
    else:
        services.ssh_key_delete(ssh_key=key, actor=request.user)
        messages.success(request, f"Key '{key.label}' removed.")
    return redirect("portal:project", pk=key.project_id) if key.project_id else redirect("portal:dashboard")


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = APITokenForm(request.POST)
    if form.is_valid():
        _, plaintext = services.api_token_create(user=request.user, actor=request.user, **form.cleaned_data)
        return render(request, "portal/token_created.html", {"plaintext": plaintext})
    messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("portal:dashboard")


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: str) -> HttpResponse:
    token = get_object_or_404(APIToken.objects.filter(user=request.user), pk=pk)
    services.api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.key_preview}… revoked.")
    return redirect("portal:dashboard")


def _percentage(device: Device) -> int | None:
    install = install_selectors.device_current_install(device)
    return install_selectors.install_percentage(install) if install is not None else None


@login_required
@require_POST
def device_order(request: HttpRequest, pk: str) -> HttpResponse:
    project = get_object_or_404(visible_projects(request.user), pk=pk)
    if not can(request.user, project, WRITE):
        messages.error(request, "Deploying servers needs the collaborator role or higher.")
        return redirect("portal:project", pk=project.pk)
    form = DeviceOrderForm(request.POST)
    if form.is_valid():
        try:
            device = orders.device_create(project=project, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{device.hostname} is queued; it will be active in a few minutes.")
            return redirect("portal:device", pk=device.pk)
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("portal:project", pk=project.pk)


@login_required
def device_detail(request: HttpRequest, pk: str) -> HttpResponse:
    device = get_object_or_404(visible_devices(request.user), pk=pk)
    install = install_selectors.device_current_install(device)
    timeline = install_selectors.install_timeline(install) if install else []
    longest = max((entry.took for entry in timeline), default=0) or 1
    addresses = []
    if device.server_id:
        from apps.ipam.selectors import server_addresses

        addresses = server_addresses(device.server)
    return render(request, "portal/device.html", {
        "device": device, "install": install, "percentage": _percentage(device), "addresses": addresses,
        "timeline": [(entry, round(100 * entry.took / longest)) for entry in timeline],
        "actions": [(action, action.confirm.format(name=device.hostname))
                    for action in actions.available(device=device, user=request.user)],
    })


@login_required
@require_POST
def device_action(request: HttpRequest, pk: str, action: str) -> HttpResponse:
    device = get_object_or_404(visible_devices(request.user), pk=pk)
    if action not in actions.ACTIONS:
        raise Http404
    try:
        done = actions.perform(action, device=device, actor=request.user, reason=f"{action} from the portal")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except (ValidationError, StateConflict) as exc:
        messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
    else:
        messages.success(request, f"{done.label} requested for {device.hostname}.")
        if done.name == "delete":
            return redirect("portal:project", pk=device.project_id)
    return redirect("portal:device", pk=device.pk)
