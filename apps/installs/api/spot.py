"""The spot market API (Equinix Metal v1): current prices per facility and per metro, the price history, and a
project's spot market requests. Prices are public to every signed-in caller; requests start from the caller's
visible projects (another tenant's is 404)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import actor_of, request_token, require
from apps.accounts.selectors import WRITE, visible_projects
from apps.facilities.models import Facility, Metro
from apps.hardware.models import Plan
from apps.installs.models import OperatingSystem, SpotMarketRequest, SpotPrice
from apps.installs.services import spot
from project.timestamps import metal_time

BASE = "/metal/v1"


def _known(model: Any, field: str, value: str | None, label: str) -> Any:
    if not value:
        return None
    found = model.objects.filter(**{field: value}).first()
    if found is None:
        raise ValidationError({label: f"No {label} '{value}'."})
    return found


class SpotPricesView(GenericAPIView):
    """{facility code: {plan slug: {"price": …}}}: a facility shows its metro's price for the plans it has."""

    def get(self, request: Request) -> Response:
        facility = _known(Facility, "code", request.query_params.get("facility"), "facility")
        plan = _known(Plan, "slug", request.query_params.get("plan"), "plan")
        prices = {(m.pk, p.pk): price for m, p, price in spot.spot_prices_now()}
        facilities = Facility.objects.select_related("metro").order_by("code")
        if facility is not None:
            facilities = facilities.filter(pk=facility.pk)
        report: dict[str, Any] = {}
        for fac in facilities:
            for plan_obj in Plan.objects.filter(servers__facility=fac).distinct().order_by("slug"):
                if plan is not None and plan_obj.pk != plan.pk:
                    continue
                if (fac.metro_id, plan_obj.pk) in prices:
                    report.setdefault(fac.code, {})[plan_obj.slug] = {"price": float(prices[(fac.metro_id, plan_obj.pk)])}
        return Response({"spot_market_prices": report, "href": f"{BASE}/market/spot/prices"})


class SpotPricesMetrosView(GenericAPIView):
    def get(self, request: Request) -> Response:
        metro = _known(Metro, "code", request.query_params.get("metro"), "metro")
        plan = _known(Plan, "slug", request.query_params.get("plan"), "plan")
        report: dict[str, Any] = {}
        for metro_obj, plan_obj, price in spot.spot_prices_now():
            if (metro is None or metro_obj.pk == metro.pk) and (plan is None or plan_obj.pk == plan.pk):
                report.setdefault(metro_obj.code, {})[plan_obj.slug] = {"price": float(price)}
        return Response({"spot_market_prices": report, "href": f"{BASE}/market/spot/prices/metros"})


def _moment(request: Request, name: str, default: dt.datetime) -> dt.datetime:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        value = parse_datetime(raw) or (dt.datetime.fromtimestamp(int(raw), tz=dt.UTC) if raw.isdigit() else None)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise ValidationError({name: f"'{raw}' is not a date-time or a Unix time."})
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SpotPricesHistoryView(GenericAPIView):
    """datapoints [[unix time, price], …] for one plan in one metro (or the metro of `facility`)."""

    def get(self, request: Request) -> Response:
        plan = _known(Plan, "slug", request.query_params.get("plan"), "plan")
        metro = _known(Metro, "code", request.query_params.get("metro"), "metro")
        facility = _known(Facility, "code", request.query_params.get("facility"), "facility")
        metro = metro or (facility.metro if facility else None)
        if plan is None or metro is None:
            raise ValidationError({"plan": "Give a plan, and a metro or a facility."})
        until = _moment(request, "until", timezone.now())
        since = _moment(request, "from", until - dt.timedelta(days=1))
        rows = SpotPrice.objects.filter(plan=plan, metro=metro, at__lte=until).order_by("at")
        before = rows.filter(at__lt=since).last()
        points = ([[int(since.timestamp()), float(before.price)]] if before else [])
        points += [[int(row.at.timestamp()), float(row.price)] for row in rows.filter(at__gte=since)]
        return Response({"prices_history": {"datapoints": points}, "href": f"{BASE}/market/spot/prices/history"})


class SpotMarketRequestIn(serializers.Serializer):
    devices_min = serializers.IntegerField(min_value=0)
    devices_max = serializers.IntegerField(min_value=1, max_value=100)
    max_bid_price = serializers.DecimalField(max_digits=10, decimal_places=4)
    metro = serializers.CharField()
    end_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    instance_parameters = serializers.DictField()


def request_out(req: SpotMarketRequest) -> dict[str, Any]:
    return {"id": str(req.pk), "devices_min": req.devices_min, "devices_max": req.devices_max, "max_bid_price": float(req.max_bid_price),
            "created_at": metal_time(req.created_at), "end_at": metal_time(req.end_at),
            "metro": {"code": req.metro.code, "name": req.metro.name}, "plan": {"slug": req.plan.slug},
            # The specification's `instances` is one link; the devices themselves are listed beside it.
            "instances": {"href": f"{BASE}/projects/{req.project_id}/devices"},
            "devices": [{"href": f"{BASE}/devices/{pk}"} for pk in req.devices.order_by("hostname").values_list("pk", flat=True)],
            "project": {"href": f"{BASE}/projects/{req.project_id}"}, "href": f"{BASE}/spot-market-requests/{req.pk}"}


class ProjectSpotMarketRequestsView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        requests = SpotMarketRequest.objects.filter(project=project, closed_at__isnull=True).select_related("metro", "plan")
        return Response({"spot_market_requests": [request_out(r) for r in requests]})

    def post(self, request: Request, pk: str) -> Response:
        project = get_object_or_404(visible_projects(request.user, request_token(request)), pk=pk)
        require(request, project, WRITE)
        body = SpotMarketRequestIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        params = v["instance_parameters"]
        metro = _known(Metro, "code", v["metro"], "metro")
        plan = _known(Plan, "slug", params.get("plan"), "plan")
        os_ = _known(OperatingSystem, "slug", params.get("operating_system"), "operating_system")
        if plan is None or os_ is None or not params.get("hostname"):
            raise ValidationError({"instance_parameters": "Give plan, operating_system and hostname."})
        made = spot.spot_market_request_create(project=project, metro=metro, plan=plan, operating_system=os_, hostname=params["hostname"],
                                               devices_min=v["devices_min"], devices_max=v["devices_max"], max_bid_price=v["max_bid_price"],
                                               end_at=v["end_at"], actor=actor_of(request))
        return Response(request_out(made), status=status.HTTP_201_CREATED)


def _visible_requests(request: Request):
    return SpotMarketRequest.objects.filter(project__in=visible_projects(request.user, request_token(request)).values("pk"),
                                            closed_at__isnull=True).select_related("metro", "plan", "project")


class SpotMarketRequestDetailView(GenericAPIView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(request_out(get_object_or_404(_visible_requests(request), pk=pk)))

    def delete(self, request: Request, pk: str) -> Response:
        req = get_object_or_404(_visible_requests(request), pk=pk)
        require(request, req.project, WRITE)
        spot.spot_market_request_close(request=req, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
