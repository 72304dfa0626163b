"""IPAM API views. Staff: the whole tree (/api/ipam/…). Customers: their projects' reservations and
assignments in Equinix Metal shapes (/metal/v1/projects/{id}/ips, /metal/v1/ips/{id} …), always
looked up through `blocks_visible_to()` so another tenant's block is a 404."""
from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import Project
from apps.accounts.permissions import StaffAPIPermission, actor_of, request_token, require, require_write_token
from apps.accounts.selectors import READ, WRITE, visible_projects
from apps.facilities.models import Facility, Metro
from apps.ipam import selectors, services
from apps.ipam.api import serializers as s
from apps.ipam.models import Block, Kind
from project.public_ids import key_of

TYPES = {"public_ipv4": (4, True), "private_ipv4": (4, False), "public_ipv6": (6, True), "private_ipv6": (6, False)}
WRITE_PERMS = {"POST": "ipam.add_block", "PATCH": "ipam.change_block", "PUT": "ipam.change_block", "DELETE": "ipam.delete_block"}


class IsIPAMStaff(StaffAPIPermission):
    """Staff read the whole tree; writes also need the Django permission (and a read-write token)."""

    message = "This is the staff IPAM API; it needs a staff account (and the ipam block permission to change anything)."

    def write_permission(self, request: Request, view: Any) -> str:
        return WRITE_PERMS.get(request.method, "ipam.change_block")


def _validated(serializer_class: Any, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _scope(facility_code: str | None, metro_code: str | None) -> tuple[Facility | None, Metro | None]:
    # Codes are stored lower-case: lower-casing the input is the real service's case-insensitive match.
    facility_code, metro_code = (facility_code or "").strip().lower(), (metro_code or "").strip().lower()
    facility = metro = None
    if facility_code:
        facility = Facility.objects.filter(code=facility_code).first()
        if facility is None:
            raise ValidationError({"facility": f"There is no facility '{facility_code}'."})
    if metro_code:
        metro = Metro.objects.filter(code=metro_code).first()
        if metro is None:
            raise ValidationError({"metro": f"There is no metro '{metro_code}'."})
    return facility, metro


def _staff_blocks() -> QuerySet[Block]:
    return Block.objects.select_related("facility", "metro")


# ---------------------------------------------------------------------- staff


def _block_filters(params: Any) -> dict[str, Any]:
    """The equality filters of the staff block list, each checked for its type (a wrong one is a field error, 422, never a 500)."""
    filters: dict[str, Any] = {}
    if params.get("kind"):
        if params["kind"] not in Kind.values:
            raise ValidationError({"kind": f"kind is one of {', '.join(Kind.values)}."})
        filters["kind"] = params["kind"]
    for name in ("family", "parent"):
        if params.get(name):
            if not params[name].isdigit() or len(params[name]) > 18:
                raise ValidationError({name: f"{name} is a number (e.g. ?{name}=4)."})
            filters[name] = int(params[name])
    if params.get("project"):
        try:
            filters["project"] = uuid.UUID(params["project"])
        except ValueError as exc:
            raise ValidationError({"project": "project is a project id (a UUID)."}) from exc
    return filters


class StaffView(GenericAPIView):
    permission_classes = [IsIPAMStaff]


class BlockListView(StaffView):
    results_key = "blocks"

    def get(self, request: Request) -> Response:
        params = request.query_params
        include_released = params.get("include_released") in ("1", "true")
        if params.get("contains"):
            qs = selectors.blocks_containing(params["contains"], include_released=include_released)
        elif params.get("within"):
            qs = selectors.blocks_within(params["within"], include_released=include_released)
        else:
            qs = _staff_blocks() if include_released else _staff_blocks().active()
            qs = qs.order_by("family", "first", "prefix_length")
        for name, value in _block_filters(params).items():
            qs = qs.filter(**{name: value})
        if params.get("facility"):
            qs = qs.filter(facility__code=params["facility"])
        if params.get("root") in ("1", "true"):
            qs = qs.filter(parent__isnull=True)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([s.staff_block(b) for b in page])

    def post(self, request: Request) -> Response:
        data = _validated(s.BlockCreateIn, request.data)
        facility, metro = _scope(data.get("facility"), data.get("metro"))
        parent = get_object_or_404(Block, pk=data["parent"]) if data.get("parent") else None
        block = services.block_create(network=data["network"], kind=data["kind"], parent=parent, facility=facility, metro=metro,
                                      public=data.get("public"), description=data["description"], actor=actor_of(request))
        return Response(s.staff_block(block), status=status.HTTP_201_CREATED)


class BlockDetailView(StaffView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.staff_block(get_object_or_404(_staff_blocks(), pk=pk)))

    def patch(self, request: Request, pk: int) -> Response:
        data = _validated(s.BlockUpdateIn, request.data)
        block = services.block_update(block=get_object_or_404(Block, pk=pk), actor=actor_of(request), **data)
        return Response(s.staff_block(block))

    def delete(self, request: Request, pk: int) -> Response:
        block = get_object_or_404(Block, pk=pk)
        if block.kind in (Kind.RESERVATION, Kind.ASSIGNMENT):
            services.block_release(block=block, actor=actor_of(request))
        else:
            services.block_delete(block=block, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockAllocateView(StaffView):
    """POST: carve the first free aligned block of `prefix_length` (NetBox's available-prefixes POST)."""

    def post(self, request: Request, pk: int) -> Response:
        data = _validated(s.AllocateIn, request.data)
        project = get_object_or_404(Project, pk=data["project"]) if data.get("project") else None
        try:
            # The service locks and loads the parent itself; an unsaved stand-in saves a query.
            block = services.block_allocate(parent=Block(pk=pk), prefix_length=data["prefix_length"], kind=data["kind"], project=project,
                                            device_id=data.get("device_id"), device_label=data["device_label"],
                                            description=data["description"], actor=actor_of(request))
        except Block.DoesNotExist as exc:
            raise Http404 from exc
        return Response(s.staff_block(block), status=status.HTTP_201_CREATED)


class BlockReleaseView(StaffView):
    def post(self, request: Request, pk: int) -> Response:
        data = _validated(s.ReleaseIn, request.data)
        block = services.block_release(block=get_object_or_404(Block, pk=pk), reason=data["reason"], actor=actor_of(request))
        return Response(s.staff_block(block))


def free_space_payload(params: Any, block: Block, base: str) -> dict[str, Any]:
    """The free-space page of `block` for query parameters `params` (per_page, start); shared by the lean view."""
    try:
        per_page = max(1, min(int(params.get("per_page", 50)), 1000))
    except ValueError as exc:
        raise ValidationError({"per_page": "per_page is a number (1–1000)."}) from exc
    start = None
    if params.get("start"):
        start_address = selectors.parse_address(params["start"], field="start")
        start = int(start_address)
    return free_space_body(block, selectors.block_free_space(block, start=start, limit=per_page), per_page, base)


def free_space_body(block: Block, page: selectors.FreeSpacePage, per_page: int, base: str) -> dict[str, Any]:
    factory = ipaddress.IPv4Address if block.family == 4 else ipaddress.IPv6Address
    next_href = f"{base}?per_page={per_page}&start={factory(page.next_start)}" if page.next_start is not None else None
    return {"network": block.network, "free": page.texts(),
            "meta": {"next": {"href": next_href} if next_href else None, "per_page": per_page}}


def _free_space_response(request: Request, block: Block, base: str) -> Response:
    return Response(free_space_payload(request.query_params, block, base))


class BlockFreeView(StaffView):
    """GET: free space as the largest aligned blocks, `per_page` at a time; follow meta.next."""

    def get(self, request: Request, pk: int) -> Response:
        block = get_object_or_404(Block, pk=pk)
        return _free_space_response(request, block, request.path)


class BlockUtilisationView(StaffView):
    def get(self, request: Request, pk: int) -> Response:
        block = get_object_or_404(Block, pk=pk)
        return Response(s.utilisation(block, selectors.block_utilisation(block)))


class WhoHeldView(StaffView):
    """GET ?address=147.75.3.17&at=2026-03-04T12:00:00Z — the abuse desk's first question."""

    def get(self, request: Request) -> Response:
        return Response(who_held_payload(request.query_params))


def who_held_payload(params: Any) -> dict[str, Any]:
    """Who held ?address at ?at (default: now); shared by the lean view."""
    address = params.get("address")
    if not address:
        raise ValidationError({"address": "Give the address, e.g. ?address=147.75.3.17&at=2026-03-04T12:00:00Z."})
    at_text = params.get("at")
    try:
        at = parse_datetime(at_text) if at_text else timezone.now()
    except ValueError:
        at = None  # well-formed but impossible, e.g. month 13
    if at is None:
        raise ValidationError({"at": f"'{at_text}' is not an ISO 8601 date and time, e.g. 2026-03-04T12:00:00Z."})
    if timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    held = selectors.who_held(address, at)
    return {"address": address, "at": at, "holders": [
        {**s.staff_block(a), "project_name": str(a.project) if a.project_id else None} for a in held]}


class AddressHistoryView(StaffView):
    def get(self, request: Request) -> Response:
        address = request.query_params.get("address")
        if not address:
            raise ValidationError({"address": "Give the address, e.g. ?address=147.75.3.17."})
        page = self.paginate_queryset(selectors.address_history(address))
        return self.get_paginated_response([{**s.staff_block(b), "project_name": str(b.project) if b.project_id else None} for b in page])


# ---------------------------------------------------------------------- customers (Equinix Metal shapes)


def _project_device_hostname(device_id: Any, project: Project) -> str:
    """The hostname of the live device `device_id` of `project`; any other device — another tenant's,
    a deleted one, none — is the same field error, so nothing is learnt about other projects."""
    hostname = selectors.project_device_hostname(device_id, project)
    if hostname is None:
        raise ValidationError({"device_id": f"There is no device {device_id} in project {project.name}."})
    return hostname


def _visible(request: Request) -> QuerySet[Block]:
    return selectors.blocks_visible_to(request.user, request_token(request))


def _by_public_id(queryset: QuerySet[Block], pk: Any) -> Block:
    key = key_of("ip", pk)
    block = queryset.filter(pk=key).first() if key is not None else None
    if block is None:
        raise Http404
    return block


def _includes(request: Request, name: str) -> bool:
    return name in {part.strip() for part in request.query_params.get("include", "").split(",")}


def _with_assignments(request: Request, blocks: list[Block]) -> list[dict[str, Any]]:
    """Reservations with their active assignments (one query for the page) when `include=assignments`."""
    if not _includes(request, "assignments"):
        return [s.customer_ip(b) for b in blocks]
    children: dict[int, list[Block]] = {b.pk: [] for b in blocks if b.kind == Kind.RESERVATION}
    for child in _visible(request).filter(parent_id__in=list(children)).active().order_by("first"):
        children[child.parent_id].append(child)
    return [s.customer_ip(b, assignments=children.get(b.pk)) for b in blocks]


class ProjectIPListView(GenericAPIView):
    """GET the project's reservations (their assignments with `include=assignments`); POST requests a
    reservation (type, quantity, metro/facility, details, tags, customdata)."""

    results_key = "ip_addresses"

    def _project(self, request: Request, project_pk: str) -> Project:
        return get_object_or_404(visible_projects(request.user, request_token(request)), pk=project_pk)

    def get(self, request: Request, project_pk: str) -> Response:
        project = self._project(request, project_pk)
        qs = _visible(request).filter(project=project, kind=Kind.RESERVATION)
        if request.query_params.get("include_released") not in ("1", "true"):
            qs = qs.active()
        types = request.query_params.get("types") or request.query_params.get("type")
        if types:
            match = Q(pk__in=[])
            for name in types.split(","):
                if name in TYPES:
                    family, public = TYPES[name]
                    match |= Q(family=family, public=public)
            qs = qs.filter(match)
        page = self.paginate_queryset(qs.order_by("family", "first"))
        return self.get_paginated_response(_with_assignments(request, page))

    def post(self, request: Request, project_pk: str) -> Response:
        project = self._project(request, project_pk)
        require(request, project, WRITE)
        data = _validated(s.ReservationIn, request.data)
        facility, metro = _scope(data.get("facility"), data.get("metro"))
        family = 6 if data["type"].endswith("ipv6") else 4
        block = services.reservation_create(project=project, family=family, public=data["type"].startswith("public"),
                                            quantity=data.get("quantity"), prefix_length=data.get("cidr"), facility=facility,
                                            metro=metro, description=data.get("details") or data.get("comments") or "",
                                            tags=data.get("tags") or [], customdata=data.get("customdata") or {}, actor=actor_of(request))
        return Response(s.customer_ip(_visible(request).get(pk=block.pk)), status=status.HTTP_201_CREATED)


class IPDetailView(GenericAPIView):
    """A reservation or an assignment by id. DELETE releases a reservation, or unassigns an address."""

    def get(self, request: Request, pk: Any) -> Response:
        block = _by_public_id(_visible(request), pk)
        return Response(_with_assignments(request, [block])[0])

    def patch(self, request: Request, pk: Any) -> Response:
        block = _by_public_id(_visible(request), pk)
        require(request, block.project, WRITE)
        data = _validated(s.ReservationUpdateIn, request.data)
        block = services.block_update(block=block, description=data.get("details"), tags=data.get("tags"), customdata=data.get("customdata"),
                                      actor=actor_of(request))
        return Response(s.customer_ip(_visible(request).get(pk=block.pk)))

    put = patch

    def delete(self, request: Request, pk: Any) -> Response:
        block = _by_public_id(_visible(request), pk)
        require(request, block.project, WRITE)
        if not block.is_active:
            raise ValidationError({"id": f"{block.network} was already released."})
        services.block_release_by_customer(block=block, actor=actor_of(request), reason="released through the API")
        return Response(status=status.HTTP_204_NO_CONTENT)


class IPAvailableView(GenericAPIView):
    """GET ?cidr=32 — the free blocks of that size left in a reservation (at most 256)."""

    def get(self, request: Request, pk: Any) -> Response:
        block = _by_public_id(_visible(request).filter(kind=Kind.RESERVATION), pk)
        try:
            cidr = int(request.query_params.get("cidr", 32 if block.family == 4 else 128))
        except ValueError as exc:
            raise ValidationError({"cidr": "cidr is a prefix length, e.g. 32."}) from exc
        if not block.prefix_length <= cidr <= selectors.BITS[block.family]:
            raise ValidationError({"cidr": f"cidr must lie between /{block.prefix_length} and /{selectors.BITS[block.family]}."})
        available: list[str] = []
        for network in selectors.block_free_space(block, limit=256).blocks:
            for sub in network.subnets(new_prefix=cidr) if network.prefixlen <= cidr else []:
                available.append(str(sub))
                if len(available) == 256:
                    break
            if len(available) == 256:
                break
        return Response({"available": available})


class IPAssignmentListView(GenericAPIView):
    """GET a reservation's assignments; POST assigns an address (or the first free /cidr) to a device."""

    results_key = "ip_addresses"

    def get(self, request: Request, pk: Any) -> Response:
        reservation = _by_public_id(_visible(request).filter(kind=Kind.RESERVATION), pk)
        require(request, reservation.project, READ)
        qs = _visible(request).filter(parent=reservation).active().order_by("first")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([s.customer_ip(b) for b in page])

    def post(self, request: Request, pk: Any) -> Response:
        reservation = _by_public_id(_visible(request).filter(kind=Kind.RESERVATION), pk)
        require(request, reservation.project, WRITE)
        require_write_token(request)
        data = _validated(s.AssignIn, request.data)
        if not data.get("address") and data.get("cidr") is None:
            raise ValidationError({"address": "Give the address to assign, or cidr for the first free block of that size."})
        label = data["device_label"]
        if data.get("device_id"):
            # Always checked, label or not: the device must be a live one of the reservation's project.
            hostname = _project_device_hostname(data["device_id"], reservation.project)
            label = label or hostname
        block = services.assignment_create(parent=reservation, network=data.get("address") or None, prefix_length=data.get("cidr"),
                                           device_id=data.get("device_id"), device_label=label, actor=actor_of(request))
        return Response(s.customer_ip(_visible(request).get(pk=block.pk)), status=status.HTTP_201_CREATED)


def device_ip_assign(request: Request, *, project: Project, device_id: Any, hostname: str, address: str) -> Block:
    """Equinix's only way to assign: `POST /devices/{id}/ips {"address": "…/32"}`. The address must lie in
    one of the device's project's active reservations; the narrowest one holding it is the parent."""
    try:
        network = ipaddress.ip_network(address.strip(), strict=False)
    except ValueError as exc:
        raise ValidationError({"address": f"'{address}' is not an address or CIDR, e.g. 147.75.1.2/32."}) from exc
    parent = (_visible(request).filter(project=project, kind=Kind.RESERVATION, family=network.version, first__lte=int(network.network_address),
                                       last__gte=int(network.broadcast_address)).active().order_by("-prefix_length").first())
    if parent is None:
        raise ValidationError({"address": f"{network} is not inside any of project {project.name}'s reservations."})
    return services.assignment_create(parent=parent, network=str(network), device_id=device_id, device_label=hostname, actor=actor_of(request))
