"""Events (Equinix Metal `/events`): what happened to a customer's objects, read from two records the
platform already keeps — the audit log (every change, who made it and why) and the install timelines
(each provisioning step of a device). One SQL UNION, ordered newest first and paginated in the database.
Every event says in `interpolated` what happened in words a person reads."""
from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import APIToken, Project, SSHKey
from apps.accounts.permissions import request_token
from apps.accounts.selectors import visible_projects
from apps.audit.models import AuditEvent
from apps.installs.models import EVENT_TYPES, Device, InstallEvent
from apps.ipam.models import Block
from apps.network.models import BgpConfig, BgpSession, PortLayer, VirtualNetwork, VlanAssignmentBatch
from project.public_ids import key_of, public_id

BASE = "/metal/v1"
# The columns both record kinds are read into (one UNION): names of annotations, not of either model's fields.
COLUMNS = ("ev_source", "pk", "ev_at", "ev_kind", "ev_body", "ev_target", "ev_target_id", "ev_actor")
AUDIT, INSTALL = "audit", "install"
VERBS = {"create": "created", "update": "updated", "delete": "deleted", "revoke": "revoked", "transition": "moved",
         "set": "set", "remove": "removed", "accept": "accepted", "power_on": "powered on", "power_off": "powered off",
         "reboot": "rebooted", "release": "released", "allocate": "allocated"}


class _AsText(Cast):
    """A key as text, as the audit log records it (str(uuid): with dashes). SQLite keeps UUIDs as 32 hex
    digits, so there the dashes are put back; other values (integers) pass as they are."""

    def as_sqlite(self, compiler, connection, **extra_context):  # noqa: ANN001, ANN003, ANN201 - Django's signature
        sql, params = super().as_sqlite(compiler, connection, **extra_context)
        dashed = ("substr({0},1,8)||'-'||substr({0},9,4)||'-'||substr({0},13,4)||'-'||substr({0},17,4)||'-'||substr({0},21,12)"
                  .format(f"({sql})"))
        return (f"(CASE WHEN length({sql}) = 32 AND instr({sql}, '-') = 0 THEN lower({dashed}) ELSE {sql} END)",
                (*params, *params, *(params * 5), *params))


def _as_text(field: str) -> Cast:
    return _AsText(field, output_field=CharField())


def _audit_rows(projects: QuerySet[Project], *, devices: QuerySet[Device] | None = None) -> QuerySet:
    """Audit events about the projects, their devices, IP blocks, SSH keys and API keys (or only `devices`)."""
    types = ContentType.objects.get_for_models(Project, Device, Block, SSHKey, APIToken, BgpConfig, BgpSession, VirtualNetwork, PortLayer,
                                               VlanAssignmentBatch, for_concrete_models=False)
    device_ids = (devices if devices is not None else Device.objects.filter(project__in=projects)).annotate(t=_as_text("pk")).values("t")
    match = Q(target_type=types[Device], target_id__in=device_ids)
    # A device's BGP sessions are its own events (their rows go when deleted; the audit keeps the id).
    session_ids = (AuditEvent.objects.filter(target_type=types[BgpSession], action="network.bgp_session.create")
                   .annotate(device=KT("changes__device__1")).filter(device__in=device_ids).values("target_id"))
    match |= Q(target_type=types[BgpSession], target_id__in=session_ids)
    # Its ports' Layer 2 changes and VLAN batches too (both name the device that made them).
    device_pks = (devices if devices is not None else Device.objects.filter(project__in=projects)).values("pk")
    for model in (PortLayer, VlanAssignmentBatch):
        ids = model.objects.filter(device_id__in=device_pks).annotate(t=_as_text("pk")).values("t")
        match |= Q(target_type=types[model], target_id__in=ids)
    if devices is None:
        match |= Q(target_type=types[Project], target_id__in=projects.annotate(t=_as_text("pk")).values("t"))
        for model, field in ((Block, "project"), (SSHKey, "project"), (APIToken, "project"), (BgpConfig, "project"), (VirtualNetwork, "project")):
            ids = model.objects.filter(**{f"{field}__in": projects.values("pk")}).annotate(t=_as_text("pk")).values("t")
            match |= Q(target_type=types[model], target_id__in=ids)
    return (AuditEvent.objects.filter(match)
            .annotate(ev_source=Value(AUDIT), ev_at=F("time"), ev_kind=F("action"), ev_body=F("reason"), ev_actor=F("actor_name"),
                      ev_target=_as_text("target_type_id"), ev_target_id=F("target_id"))
            .values_list(*COLUMNS))


def _install_rows(projects: QuerySet[Project], *, devices: QuerySet[Device] | None = None) -> QuerySet:
    events = InstallEvent.objects.filter(install__device__in=devices if devices is not None else Device.objects.filter(project__in=projects))
    return (events.annotate(ev_source=Value(INSTALL), ev_at=F("created_at"), ev_kind=F("type"), ev_body=F("body"), ev_actor=Value("Metalyard"),
                            ev_target=Value(""), ev_target_id=_as_text("install__device_id"))
            .values_list(*COLUMNS))


def event_rows(projects: QuerySet[Project], *, devices: QuerySet[Device] | None = None) -> QuerySet:
    # The parts lose their models' default ordering: SQLite refuses ORDER BY inside a compound statement.
    return (_audit_rows(projects, devices=devices).order_by().union(_install_rows(projects, devices=devices).order_by(), all=True)
            .order_by("-ev_at", "-pk"))


def _words(action: str) -> str:
    parts = action.split(".")
    noun = parts[-2].replace("_", " ") if len(parts) >= 2 else ""
    return f"{VERBS.get(parts[-1], parts[-1].replace('_', ' '))} {noun}".strip()


def event_repr(row: tuple[Any, ...], *, device_names: dict[str, str], type_models: dict[str, str]) -> dict[str, Any]:
    source, pk, at, kind, body, target_type, target_id, actor = row
    ref = public_id("event" if source == AUDIT else "install_event", pk)
    relationships = []
    if source == INSTALL:
        name = device_names.get(target_id, "the device")
        interpolated = f"{name}: {EVENT_TYPES.get(kind, (body or kind, 0))[0]}" + (f" ({body})" if body and body not in EVENT_TYPES.get(kind, ("",))[0] else "")
        relationships.append({"href": f"{BASE}/devices/{target_id}"})
    else:
        model = type_models.get(str(target_type), "")
        target_words = device_names.get(target_id, "") if model == "device" else ""
        interpolated = f"{actor or 'Metalyard'} {_words(kind)} {target_words}".strip() + (f": {body}" if body else "")
        if model == "device":
            relationships.append({"href": f"{BASE}/devices/{target_id}"})
        elif model == "project":
            relationships.append({"href": f"{BASE}/projects/{target_id}"})
    return {"id": ref, "state": "success" if kind != "provisioning.failed" else "failed", "type": kind, "body": body or "",
            "interpolated": interpolated, "created_at": at, "relationships": relationships, "modified_by": {"name": actor} if actor else {},
            "ip": "", "href": f"{BASE}/events/{ref}"}


def render(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    ids = {r[6] for r in rows if r[6]}
    device_names = {str(pk): hostname for pk, hostname in Device.objects.filter(pk__in=[i for i in ids if len(i) == 36]).values_list("pk", "hostname")}
    type_models = {str(ct.pk): ct.model for ct in ContentType.objects.filter(pk__in={r[5] for r in rows if r[5]})}
    return [event_repr(r, device_names=device_names, type_models=type_models) for r in rows]


class EventList(GenericAPIView):
    results_key = "events"

    def _projects(self, request: Request) -> QuerySet[Project]:
        return visible_projects(request.user, request_token(request))

    def rows(self, request: Request, **kwargs: Any) -> QuerySet:
        projects = self._projects(request)
        if kwargs.get("project_pk"):
            projects = projects.filter(pk=get_object_or_404(projects, pk=kwargs["project_pk"]).pk)
        if kwargs.get("org_pk"):
            projects = projects.filter(organization_id=kwargs["org_pk"])
            if not projects.exists():
                raise Http404
        if kwargs.get("device_pk"):
            device = get_object_or_404(Device.objects.filter(project__in=projects.values("pk")).exclude(state="deleted"), pk=kwargs["device_pk"])
            return event_rows(projects, devices=Device.objects.filter(pk=device.pk))
        return event_rows(projects)

    def get(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.rows(request, **kwargs))
        return self.get_paginated_response(render(list(page)))


class EventDetail(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        projects = visible_projects(request.user, request_token(request))
        audit_key, install_key = key_of("event", pk), key_of("install_event", pk)
        if audit_key is not None:
            row = _audit_rows(projects).filter(pk=audit_key).first()
        elif install_key is not None:
            row = _install_rows(projects).filter(pk=install_key).first()
        else:
            row = None
        if row is None:
            raise Http404
        return Response(render([row])[0])
