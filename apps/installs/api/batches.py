"""The customer batch API (Equinix Metal v1): order many devices in one request, list a project's batches,
show or delete one. Lookups start from the caller's visible projects; another tenant's batch is 404."""
from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.facilities.models import Metro
from apps.hardware.models import Plan
from apps.installs.api.serializers import DeviceIn
from apps.installs.models import Batch, OperatingSystem
from apps.installs.selectors import order_facility
from apps.installs.services import batches
from project.timestamps import metal_time

BASE = "/metal/v1"


class BatchEntryIn(DeviceIn):
    hostname = serializers.CharField(max_length=63, required=False, default="")
    hostnames = serializers.ListField(child=serializers.CharField(max_length=63), required=False, default=list)
    quantity = serializers.IntegerField(min_value=1, max_value=batches.MAX_BATCH)


class BatchCreateIn(serializers.Serializer):
    batches = BatchEntryIn(many=True, allow_empty=False)


def batch_out(batch: Batch) -> dict[str, Any]:
    return {"id": str(batch.pk), "quantity": batch.quantity, "state": batch.state, "error_messages": batch.error_messages,
            "devices": [{"href": f"{BASE}/devices/{pk}"} for pk in batch.devices.order_by("hostname").values_list("pk", flat=True)],
            "project": {"href": f"{BASE}/projects/{batch.project_id}"}, "created_at": metal_time(batch.created_at),
            "updated_at": metal_time(batch.updated_at), "href": f"{BASE}/batches/{batch.pk}"}


def _spec(entry: dict[str, Any], project: Any) -> batches.BatchSpec:
    plan = Plan.objects.filter(slug=(entry.get("plan") or "").strip().lower()).first()
    os_ = OperatingSystem.objects.filter(slug=entry["operating_system"].strip().lower()).first()
    metro = Metro.objects.filter(code=entry["metro"].strip().lower()).first() if entry.get("metro") else None
    missing = {name: f"No {name.replace('_', ' ')} '{entry[name]}'." for name, obj in
               (("plan", plan), ("operating_system", os_), ("metro", metro)) if entry.get(name) and obj is None}
    if missing:
        raise ValidationError(missing)
    facility = None
    if entry.get("facility") and plan is not None:
        # A code, a list in order of preference, or "any" (apps/installs/api/serializers.py FacilityField).
        facility = order_facility(plan=plan, facility_codes=entry["facility"], metro=metro)
        if facility is None:
            raise ValidationError({"facility": f"No facility '{', '.join(entry['facility'])}'."})
    return batches.BatchSpec(quantity=entry["quantity"], plan=plan, operating_system=os_, facility=facility, metro=metro,
                             hostname=entry["hostname"], hostnames=entry["hostnames"],
                             options={"ssh_keys": entry.get("ssh_keys") or [], "project_ssh_keys": entry.get("project_ssh_keys"),
                                      "user_ssh_keys": entry.get("user_ssh_keys"), "no_ssh_keys": bool(entry.get("no_ssh_keys")),
                                      "userdata": entry.get("userdata") or "", "tags": entry.get("tags") or [],
                                      "description": entry.get("description") or "",
                                      "public_ipv4_subnet_size": entry.get("public_ipv4_subnet_size") or 31,
                                      "locked": bool(entry.get("locked")), "customdata": entry.get("customdata") or {}})


class ProjectBatchCreateView(GenericAPIView):
    def post(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        require(request, project, WRITE)
        body = BatchCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        specs = [_spec(entry, project) for entry in body.validated_data["batches"]]
        made = batches.device_batch_create(project=project, specs=specs, actor=actor_of(request))
        return Response({"batches": [batch_out(batch) for batch in made]}, status=status.HTTP_201_CREATED)


class ProjectBatchListView(GenericAPIView):
    results_key = "batches"

    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        page = self.paginate_queryset(Batch.objects.filter(project=project).order_by("-created_at"))
        return self.get_paginated_response([batch_out(batch) for batch in page])


def _visible_batches(request: Request):
    return Batch.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk")).select_related("project")


class BatchDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(batch_out(get_object_or_404(_visible_batches(request), pk=pk)))

    def delete(self, request: Request, pk: str) -> Response:
        batch = get_object_or_404(_visible_batches(request), pk=pk)
        require(request, batch.project, WRITE)
        remove = request.query_params.get("remove_associated_instances", "false").lower() in ("1", "true", "yes")
        batches.batch_delete(batch=batch, remove_devices=remove, actor=actor_of(request), user=request.user, token=request_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
