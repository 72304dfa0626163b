"""The read-only catalog every customer may list, in Equinix Metal shapes: metros, facilities,
plans, and capacity answered from the pool of `ready`
servers per plan and place. Codes and slugs are matched case-insensitively, as the real service does."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet
from django.http import Http404
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import request_token
from apps.accounts.selectors import visible_projects
from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan, Server
from project.public_ids import key_of, public_id

BASE = "/metal/v1"


def metro_href(metro_id: int) -> str:
    return f"{BASE}/locations/metros/{public_id('metro', metro_id)}"


def facility_href(facility_id: int) -> str:
    return f"{BASE}/facilities/{public_id('facility', facility_id)}"


def plan_href(plan_id: int) -> str:
    return f"{BASE}/plans/{public_id('plan', plan_id)}"


def metro_repr(metro: Metro) -> dict[str, Any]:
    return {"id": public_id("metro", metro.pk), "code": metro.code, "name": metro.name, "country": metro.country,
            "href": metro_href(metro.pk)}


def facility_repr(facility: Facility) -> dict[str, Any]:
    return {
        "id": public_id("facility", facility.pk), "code": facility.code, "name": facility.name, "features": facility.features,
        "address": {"address": facility.address}, "ip_ranges": [], "metro": metro_repr(facility.metro), "href": facility_href(facility.pk),
    }


def plan_repr(plan: Plan) -> dict[str, Any]:
    facilities = list(plan.facilities.all())
    price = {"hour": float(plan.price_hourly.quantize(Decimal("0.0001")))}
    metros = {f.metro_id: f.metro for f in facilities}
    return {
        "id": public_id("plan", plan.pk), "slug": plan.slug, "name": plan.name, "line": plan.line, "class": plan.slug,
        "type": "standard", "categories": ["compute"], "legacy": False,
        "description": f"{plan.cpu_count}× {plan.cpu_model}, {plan.ram_gb} GB RAM",
        "specs": {
            "cpus": [{"count": plan.cpu_count, "type": plan.cpu_model}],
            "memory": {"total": f"{plan.ram_gb}GB"},
            "drives": [{"count": d["count"], "size": f"{d['size_gb']}GB", "type": d["type"]} for d in plan.disks],
            "nics": [{"count": plan.nic_count, "type": f"{plan.nic_speed_gbps}Gbps"}],
        },
        "pricing": price,
        "available_in": [{"href": facility_href(f.pk), "price": price} for f in facilities],
        "available_in_metros": [{"href": metro_href(m.pk), "price": price} for m in sorted(metros.values(), key=lambda m: m.code)],
        "deployment_types": ["on_demand"],
        "href": plan_href(plan.pk),
    }


class Repr(serializers.BaseSerializer):
    """Wraps one of the *_repr functions above for views that paginate."""

    def __init__(self, *args: Any, render: Any = None, **kwargs: Any) -> None:
        self.render = render
        super().__init__(*args, **kwargs)

    def to_representation(self, obj: Any) -> dict[str, Any]:
        return self.render(obj)


def _plans() -> QuerySet[Plan]:
    return Plan.objects.prefetch_related("facilities__metro").order_by("slug")


def _facilities() -> QuerySet[Facility]:
    return Facility.objects.select_related("metro").order_by("code")


def by_public_id(queryset: QuerySet, kind: str, value: Any) -> Any:
    key = key_of(kind, value)
    obj = queryset.filter(pk=key).first() if key is not None else None
    if obj is None:
        raise Http404
    return obj


class CatalogList(GenericAPIView):
    results_key = "results"

    def render(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def rows(self, request: Request, **kwargs: Any) -> QuerySet:
        raise NotImplementedError

    def get(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.rows(request, **kwargs))
        return self.get_paginated_response(Repr(page, many=True, render=self.render).data)


class MetroList(CatalogList):
    results_key = "metros"
    render = staticmethod(metro_repr)

    def rows(self, request: Request, **kwargs: Any) -> QuerySet:
        return Metro.objects.order_by("code")


class MetroDetail(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(metro_repr(by_public_id(Metro.objects.all(), "metro", pk)))


class FacilityList(CatalogList):
    results_key = "facilities"
    render = staticmethod(facility_repr)

    def rows(self, request: Request, **kwargs: Any) -> QuerySet:
        return _facilities()


class FacilityDetail(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(facility_repr(by_public_id(_facilities(), "facility", pk)))


class PlanList(CatalogList):
    """`?slug=` and `?type=` filter (the plans data sources and metal-cli ask for them)."""

    results_key = "plans"
    render = staticmethod(plan_repr)

    def rows(self, request: Request, **kwargs: Any) -> QuerySet:
        plans = _plans()
        if request.query_params.get("slug"):
            plans = plans.filter(slug__iexact=request.query_params["slug"])
        if request.query_params.get("type") not in (None, "", "standard"):
            plans = plans.none()  # every plan here is a standard one
        if kwargs.get("project_pk") and not visible_projects(request.user, request_token(request)).filter(pk=kwargs["project_pk"]).exists():
            raise Http404
        return plans


class PlanDetail(GenericAPIView):
    def get(self, request: Request, pk: Any) -> Response:
        return Response(plan_repr(by_public_id(_plans(), "plan", pk)))


# ---------------------------------------------------------------------- capacity

def capacity_level(available: int) -> str:
    """The real service's three words; 'limited' while a handful of orders could still empty it."""
    if available <= 0:
        return "unavailable"
    return "limited" if available < 5 else "normal"


def _ready_counts(group: str) -> dict[tuple[str, str], int]:
    rows = (Server.objects.filter(state="ready").values(group, "plan__slug").annotate(n=Count("pk")).order_by())
    return {(row[group], row["plan__slug"]): row["n"] for row in rows}


def _report(group: str, places: list[tuple[str, list[str]]], *, with_count: bool) -> dict[str, dict[str, dict[str, Any]]]:
    counts = _ready_counts(group)
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for place, slugs in places:
        for slug in slugs:
            available = counts.get((place, slug), 0)
            entry: dict[str, Any] = {"level": capacity_level(available)}
            if with_count:
                entry["available_servers"] = available
            report.setdefault(place, {})[slug] = entry
    return report


def _offered() -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """(facility code, plan slugs) and (metro code, plan slugs) for every plan offered in a place or
    racked there (a plan with servers in a facility is reported even at 'unavailable')."""
    pairs = set(Plan.facilities.through.objects.values_list("facility__code", "facility__metro__code", "plan__slug"))
    pairs |= set(Server.objects.values_list("facility__code", "facility__metro__code", "plan__slug").distinct())
    by_facility: dict[str, set[str]] = {}
    by_metro: dict[str, set[str]] = {}
    for code, metro, slug in pairs:
        by_facility.setdefault(code, set()).add(slug)
        by_metro.setdefault(metro, set()).add(slug)
    return ([(c, sorted(s)) for c, s in sorted(by_facility.items())], [(c, sorted(s)) for c, s in sorted(by_metro.items())])


class CapacityServerIn(serializers.Serializer):
    plan = serializers.CharField()
    quantity = serializers.CharField(required=False, default="1")
    facility = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    metro = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class CapacityCheckIn(serializers.Serializer):
    servers = CapacityServerIn(many=True)


def _quantity(text: str) -> int:
    try:
        return max(0, int(str(text)))
    except ValueError as exc:
        raise ValidationError({"quantity": f"'{text}' is not a number of servers."}) from exc


class FacilityCapacity(GenericAPIView):
    """GET: every facility and plan with a level; POST: would `quantity` servers fit?"""

    def get(self, request: Request) -> Response:
        return Response({"capacity": _report("facility__code", _offered()[0], with_count=False)})

    def post(self, request: Request) -> Response:
        body = CapacityCheckIn(data=request.data)
        body.is_valid(raise_exception=True)
        counts = {(f.lower(), p.lower()): n for (f, p), n in _ready_counts("facility__code").items()}
        servers = []
        for server in body.validated_data["servers"]:
            place = (server.get("facility") or "").lower()
            available = counts.get((place, server["plan"].lower()), 0)
            servers.append({"facility": server.get("facility") or "", "plan": server["plan"], "quantity": str(server["quantity"]),
                            "available": available >= _quantity(server["quantity"])})
        return Response({"servers": servers})


class MetroCapacity(GenericAPIView):
    def get(self, request: Request) -> Response:
        return Response({"capacity": _report("facility__metro__code", _offered()[1], with_count=True)})

    def post(self, request: Request) -> Response:
        body = CapacityCheckIn(data=request.data)
        body.is_valid(raise_exception=True)
        counts = {(m.lower(), p.lower()): n for (m, p), n in _ready_counts("facility__metro__code").items()}
        servers = []
        for server in body.validated_data["servers"]:
            place = (server.get("metro") or "").lower()
            available = counts.get((place, server["plan"].lower()), 0)
            servers.append({"metro": server.get("metro") or "", "plan": server["plan"], "quantity": str(server["quantity"]),
                            "available": available >= _quantity(server["quantity"])})
        return Response({"servers": servers})



