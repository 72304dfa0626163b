"""The read-only catalog every customer may list: metros, facilities and plans (Equinix Metal shapes)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan

BASE = "/metal/v1"


def metro_repr(metro: Metro) -> dict[str, Any]:
    return {"id": str(metro.pk), "code": metro.code, "name": metro.name, "country": metro.country, "href": f"{BASE}/locations/metros/{metro.pk}"}


class MetroOut(serializers.BaseSerializer):
    def to_representation(self, metro: Metro) -> dict[str, Any]:
        return metro_repr(metro)


class FacilityOut(serializers.BaseSerializer):
    def to_representation(self, facility: Facility) -> dict[str, Any]:
        return {
            "id": str(facility.pk), "code": facility.code, "name": facility.name, "features": facility.features,
            "address": {"address": facility.address}, "metro": metro_repr(facility.metro), "href": f"{BASE}/facilities/{facility.pk}",
        }


class PlanOut(serializers.BaseSerializer):
    def to_representation(self, plan: Plan) -> dict[str, Any]:
        facilities = list(plan.facilities.all())
        return {
            "id": str(plan.pk), "slug": plan.slug, "name": plan.name, "line": plan.line, "class": plan.slug,
            "description": f"{plan.cpu_count}× {plan.cpu_model}, {plan.ram_gb} GB RAM",
            "specs": {
                "cpus": [{"count": plan.cpu_count, "type": plan.cpu_model, "cores": plan.cpu_cores}],
                "memory": {"total": f"{plan.ram_gb}GB"},
                "drives": [{"count": d["count"], "size": f"{d['size_gb']}GB", "type": d["type"]} for d in plan.disks],
                "nics": [{"count": plan.nic_count, "type": f"{plan.nic_speed_gbps}Gbps"}],
            },
            "pricing": {"hour": float(plan.price_hourly.quantize(Decimal("0.0001")))},
            "available_in": [{"href": f"{BASE}/facilities/{f.pk}", "code": f.code} for f in facilities],
            "available_in_metros": sorted({f.metro.code for f in facilities}),
            "deployment_types": ["on_demand"],
            "href": f"{BASE}/plans/{plan.pk}",
        }


class CatalogList(GenericAPIView):
    results_key = "results"
    output: type[serializers.BaseSerializer] = MetroOut

    def get_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.output(page, many=True).data)


class MetroList(CatalogList):
    results_key = "metros"
    output = MetroOut

    def get_queryset(self) -> QuerySet:
        return Metro.objects.order_by("code")


class FacilityList(CatalogList):
    results_key = "facilities"
    output = FacilityOut

    def get_queryset(self) -> QuerySet:
        return Facility.objects.select_related("metro").order_by("code")


class PlanList(CatalogList):
    results_key = "plans"
    output = PlanOut

    def get_queryset(self) -> QuerySet:
        return Plan.objects.prefetch_related("facilities__metro").order_by("slug")


class PlanDetail(GenericAPIView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(PlanOut(get_object_or_404(Plan.objects.prefetch_related("facilities__metro"), pk=pk)).data)
