"""A project's IP reservations: reserve a block, see what of it is assigned where, assign an address of it to a
server, release — every write through the IPAM services, every read from the user's own projects' blocks."""
from __future__ import annotations

import ipaddress

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.accounts.models import Project
from apps.installs.selectors import visible_devices
from apps.ipam import services as ipam
from apps.ipam.models import Block, Kind
from apps.ipam.selectors import blocks_visible_to
from apps.portal.controls import refused
from apps.portal.forms import AssignForm, ReservationForm
from apps.portal.views.common import FORM_ERRORS_STATUS, add_errors, error_text, paginate, project_for, render_project


@login_required
def ips(request: HttpRequest, pk: str) -> HttpResponse:
    """The project's active reservations with how many of their addresses are assigned (one query per page)."""
    project = project_for(request, pk)
    form = ReservationForm()
    status = 200
    if request.method == "POST":
        if (refusal := refused(request, project, "ips", "ips")) is not None:
            return refusal
        form = ReservationForm(request.POST)
        if form.is_valid():
            try:
                block = ipam.reservation_create(project=project, quantity=form.cleaned_data["quantity"], description=form.cleaned_data["description"],
                                                actor=request.user, **form.place())
            except ValidationError as exc:
                add_errors(form, exc, {"prefix_length": "quantity", "metro": "location", "facility": "location"})
            else:
                messages.success(request, f"{block.network} is reserved for {project.name}.")
                return redirect("portal:ip", pk=project.pk, block_pk=block.pk)
        status = FORM_ERRORS_STATUS
    reservations = (blocks_visible_to(request.user).filter(project=project, kind=Kind.RESERVATION).active()
                    .annotate(assigned=Count("children", filter=Q(children__released_at__isnull=True)))
                    .order_by("family", "first"))
    page, query = paginate(request, reservations)
    return render_project(request, "portal/ips.html", project, "ips", {"page_obj": page, "query": query, "form": form}, status=status)


def _reservation(request: HttpRequest, project: Project, block_pk: int) -> Block:
    return get_object_or_404(blocks_visible_to(request.user).filter(project=project, kind=Kind.RESERVATION), pk=block_pk)


def _assign_form(request: HttpRequest, project: Project, data: object = None) -> AssignForm:
    form = AssignForm(data)
    devices = visible_devices(request.user).filter(project=project).order_by("hostname")
    form.fields["device"].choices = [(str(d.pk), f"{d.hostname} ({d.state})") for d in devices]
    return form


@login_required
def ip_detail(request: HttpRequest, pk: str, block_pk: int) -> HttpResponse:
    project = project_for(request, pk)
    reservation = _reservation(request, project, block_pk)
    form = _assign_form(request, project)
    status = 200
    if request.method == "POST":
        if (refusal := refused(request, project, "ips", "ips")) is not None:
            return refusal
        form = _assign_form(request, project, request.POST)
        if form.is_valid():
            device = visible_devices(request.user).filter(project=project).get(pk=form.cleaned_data["device"])
            address = form.cleaned_data["address"].strip()
            try:
                network = str(ipaddress.ip_network(address, strict=False)) if address else None
            except ValueError:
                form.add_error("address", f"'{address}' is not an address or CIDR, e.g. {reservation.ip_network.network_address}.")
            else:
                try:
                    block = ipam.assignment_create(parent=reservation, network=network, device_id=device.pk, device_label=device.hostname,
                                                   actor=request.user)
                except ValidationError as exc:
                    add_errors(form, exc, {"network": "address", "prefix_length": "address"})
                else:
                    messages.success(request, f"{block.network} is assigned to {device.hostname}.")
                    return redirect("portal:ip", pk=project.pk, block_pk=reservation.pk)
        status = FORM_ERRORS_STATUS
    assignments = reservation.children.filter(released_at__isnull=True).order_by("first")
    page, query = paginate(request, assignments)
    return render_project(request, "portal/ip.html", project, "ips", {
        "reservation": reservation, "page_obj": page, "query": query, "form": form}, status=status)


@login_required
@require_POST
def ip_release(request: HttpRequest, pk: str, block_pk: int) -> HttpResponse:
    """Release a reservation, or one assignment of it (back to the reservation)."""
    project = project_for(request, pk)
    # Only what the customer made here: a reservation, or an address assigned out of one (not a server's own addresses).
    releasable = Q(kind=Kind.RESERVATION) | Q(kind=Kind.ASSIGNMENT, parent__kind=Kind.RESERVATION)
    block = get_object_or_404(blocks_visible_to(request.user).filter(releasable, project=project), pk=block_pk)
    if (refusal := refused(request, project, "ips", "ips")) is not None:
        return refusal
    try:
        ipam.block_release(block=block, actor=request.user, reason="released from the portal")
    except ValidationError as exc:
        messages.error(request, error_text(exc))
        return redirect("portal:ip", pk=project.pk, block_pk=block.pk if block.kind == Kind.RESERVATION else block.parent_id)
    messages.success(request, f"{block.network} is released.")
    if block.kind == Kind.ASSIGNMENT and block.parent_id:
        return redirect("portal:ip", pk=project.pk, block_pk=block.parent_id)
    return redirect("portal:ips", pk=project.pk)
