"""Lean views for the customer API's hot reads: `GET /devices/{id}` and `GET /projects/{id}/devices`.

The DRF views (apps/installs/api/views.py, serializers.device_repr) stay the reference; these answer
the plain case with the same bytes (tests/installs/test_api_lean.py compares them) and hand anything
else to them (apps/api/lean.py): a session, a wrong token, an Accept header other than JSON, any query
parameter but `page`/`per_page` (filters, `include`, `exclude`, `format`), a page out of range, an
empty project, another tenant's id (the DRF view words the 404), and every database but PostgreSQL.

Where the time goes in the DRF path (cProfile, a page of 100 devices, ~105 ms of CPU on this loaded
machine): a model instance per device, install, event and address (~5,000 for a page), psycopg parsing
~1,700 timestamps that are then formatted back to text, the ORM compiling a dozen queries (the
visibility subqueries most), and encoding ~650 KB of JSON. Here: three statements after the token (the
devices with their catalog rows joined, the newest installs with their events' JSON written by PostgreSQL,
the addresses with their parents), prepared once per connection (project/prepared.py); timestamps formatted
by PostgreSQL; the visibility subquery compiled once per caller; rows read as tuples; each device written
as JSON text directly (`_Page.device`: json's own C function escapes the strings, each catalog object is
encoded once per request, JSON columns' texts re-encoded once per process), no dict and no encoder pass
over the page. A page's statement count does not grow with `per_page`.

A change to the device's JSON goes in serializers.device_repr (or ipam's customer_ip) and in `_Page.device`
(or `_Addresses.address`) below, together; the byte-equality test fails until both say the same.
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import uuid
from functools import cache, lru_cache, partial
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.http import urlencode

from apps.accounts.permissions import request_token
from apps.accounts.selectors import visible_projects
from apps.api.lean import HandOver, json_response, lean, renderer
from apps.api.pagination import MetalPagination
from apps.facilities.models import Facility, Metro
from apps.hardware.api.catalog import facility_href, metro_href, plan_href
from apps.hardware.models import Plan, Server
from apps.installs.api import views
from apps.installs.api.serializers import BASE, layer2_device, network_ports, os_href, ports_by_device
from apps.installs.models import EVENT_TYPES, Device, Install, InstallEvent, OperatingSystem
from apps.ipam.api.serializers import ip_href, ip_netmask
from apps.ipam.models import Block, Kind
from project.prepared import prepared_cursor
from project.public_ids import public_id

_POSITIVE = re.compile(r"[1-9][0-9]{0,8}")
_PAGE_PARAMS = frozenset({"page", "per_page"})


def _text_time(column: str) -> str:
    """A timestamp as the real service writes it (project/timestamps.metal_time), formatted by PostgreSQL."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _micros(column: str) -> str:
    """A timestamp as integer microseconds since the epoch: differences of them are timedelta's, to the microsecond."""
    return f"(extract(epoch from {column}) * 1000000)::bigint"


def _sql_text(value: str) -> str:
    """A constant of this module's code as an SQL string literal (standard_conforming_strings: only quotes double)."""
    return "'" + value.replace("'", "''") + "'"


# The percentage each event type stands for (install_percentage: the highest of the run's events, 0 without one).
_PERCENTAGE_CASES = " ".join(f"WHEN {_sql_text(name)} THEN {int(percentage)}" for name, (_, percentage) in EVENT_TYPES.items())
# round(took / 1e6, 3) as Python's repr writes it, from `t.took` (integer microseconds): the nearest millisecond, its
# fraction without trailing zeros but one ("7.1", "7.0", "-0.0"). A tie (…500 µs) rounds by the float's binary value,
# which SQL does not see: it is written as the microseconds between two \x01 (a character to_json always escapes, so
# none is in the text otherwise), and Python writes those few (_events_json).
_MS = "((abs(t.took) + 500) / 1000)"
_TOOK_SECONDS = (f"CASE WHEN mod(abs(t.took), 1000) = 500 THEN chr(1) || t.took || chr(1) ELSE "
                 f"CASE WHEN t.took < 0 THEN '-' ELSE '' END || ({_MS} / 1000) || '.' || "
                 f"CASE WHEN mod({_MS}, 1000) = 0 THEN '0' ELSE rtrim(lpad(mod({_MS}, 1000)::text, 3, '0'), '0') END END")
# selectors.provisioning_events' item as the renderer writes it: to_json escapes a string exactly as the renderer's json
# encoder (", \\, \b \f \n \r \t, other controls as \u00xx, nothing else); U+2028/9 are escaped with the rest (_unicode_separators).
_EVENT_JSON = ("""'{"id":"' || t.install_id || '-' || t.k || '","type":' || to_json(t.type)::text || ',"body":' """
               """|| to_json(t.body)::text || ',"state":"' || CASE WHEN t.type <> 'provisioning.failed' THEN 'info' ELSE 'failed' END """
               f"""|| '","created_at":' || COALESCE('"' || {_text_time("t.created_at")} || '"', 'null') """
               f"""|| ',"took_seconds":' || {_TOOK_SECONDS} || '}}'""")
_TIE = re.compile("\x01(-?[0-9]+)\x01")


def _events_json(texts: str) -> str:
    """The events' JSON from the `installs` statement, with the ties' took_seconds written by Python's round."""
    if "\x01" not in texts:
        return texts
    return _TIE.sub(lambda tie: repr(round(int(tie[1]) / 1_000_000, 3)), texts)


@cache
def _statements() -> dict[str, str]:
    """The SQL, written once from the models' tables. `{where}` and `{visible}` are filled per request."""
    t = {m.__name__: m._meta.db_table for m in (Device, Plan, OperatingSystem, Metro, Facility, Server, Install, InstallEvent, Block)}
    # Table names from the models' metadata and fixed text only; every value is a parameter.
    device = f"""
        SELECT d.id::text, d.hostname, d.description, d.state, d.tags::text, d.userdata, d.customdata::text, d.billing_cycle, d.locked,
               d.always_pxe, d.ipxe_script_url, d.spot_instance, d.spot_price_max, {_text_time("d.termination_time")},
               {_text_time("d.created_at")}, {_text_time("d.updated_at")}, d.project_id::text, d.hardware_reservation_id::text, d.created_by_id,
               d.failure_reason,
               p.id, p.slug, p.name, p.line,
               o.id, o.slug, o.name, o.distro, o.version,
               f.id, f.code, f.name, f.features::text,
               m.id, m.code, m.name, m.country,
               d.server_id, {{count}}
        FROM {t["Device"]} d
        JOIN {t["Plan"]} p ON p.id = d.plan_id
        JOIN {t["OperatingSystem"]} o ON o.id = d.operating_system_id
        LEFT JOIN {t["Server"]} s ON s.id = d.server_id
        LEFT JOIN {t["Facility"]} f ON f.id = CASE WHEN d.server_id IS NULL THEN d.facility_id ELSE s.facility_id END
        LEFT JOIN {t["Metro"]} m ON m.id = COALESCE(d.metro_id, f.metro_id)
        WHERE {{where}} AND d.state <> 'deleted' AND d.project_id IN ({{visible}})"""  # noqa: S608
    return {
        "device": device.format(count="1", where="d.id = %s", visible="{visible}"),
        "page": device.format(count="count(*) OVER ()", where="d.project_id = %s", visible="{visible}")
        + " ORDER BY d.created_at DESC, d.id LIMIT %s OFFSET %s",
        # The newest run of each device (from the page's ids, unnest: the planner walks the indexes per device rather than
        # filtering the whole table by a list; OFFSET-free LIMIT 1 per device) and its events' JSON, written here (see _events_json).
        "installs": f"""
            WITH newest AS (SELECT i.* FROM unnest(%s::uuid[]) AS page(device_id) CROSS JOIN LATERAL
                              (SELECT id, device_id, kind, state, created_at FROM {t["Install"]} WHERE device_id = page.device_id
                               ORDER BY created_at DESC LIMIT 1) i),
                 timed AS (SELECT e.install_id, e.type, e.body, e.created_at, row_number() OVER run - 1 AS k,
                                  {_micros("e.created_at")} - lag({_micros("e.created_at")}, 1, {_micros("n.created_at")}) OVER run AS took
                           FROM newest n JOIN {t["InstallEvent"]} e ON e.install_id = n.id
                           WINDOW run AS (PARTITION BY e.install_id ORDER BY e.created_at, e.id)),
                 events AS (SELECT t.install_id, max(CASE t.type {_PERCENTAGE_CASES} ELSE 0 END) AS highest,
                                   '[' || string_agg({_EVENT_JSON}, ',' ORDER BY t.k) || ']' AS texts
                            FROM timed t GROUP BY t.install_id)
            SELECT n.device_id::text, n.id::text, n.kind, n.state, COALESCE(v.highest, 0), v.texts
            FROM newest n LEFT JOIN events v ON v.install_id = n.id""",  # noqa: S608
        # Active assignments, newest first (then by id), with the block each was carved from.
        "addresses": f"""
            SELECT b.device_id::text, b.id, b.family, b.prefix_length, b.first, b.gateway, b.public, b.project_id::text, b.server_id,
                   {_text_time("b.assigned_at")}, b.description, b.tags::text, b.customdata::text, b.device_label,
                   q.id, q.kind, q.family, q.prefix_length, q.first
            FROM unnest(%s::uuid[]) AS page(device_id) CROSS JOIN LATERAL
                 (SELECT * FROM {t["Block"]} WHERE device_id = page.device_id AND kind = '{Kind.ASSIGNMENT.value}'
                  AND released_at IS NULL OFFSET 0) b
                 LEFT JOIN {t["Block"]} q ON q.id = b.parent_id
            ORDER BY b.assigned_at DESC, b.id DESC""",  # noqa: S608
    }


_EMPTY_JSON = {"[]": list, "{}": dict}


def _json_value(text: str) -> Any:
    """A JSON column's text as the ORM's JSONField gives it (json.loads); the empty list and object without a parse."""
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else json.loads(text)


# What the renderer (DRF's JSONRenderer with the API's settings) passes to json.dumps, for the parts encoded here.
_dumps = partial(json.dumps, cls=renderer.encoder_class, ensure_ascii=renderer.ensure_ascii, allow_nan=not renderer.strict,
                 separators=(",", ":") if renderer.compact else (", ", ": "))
_quote = json.encoder.encode_basestring if not renderer.ensure_ascii else json.encoder.encode_basestring_ascii  # json.dumps' own
_BOOL = {True: "true", False: "false"}


def _text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


@lru_cache(maxsize=4096)
def _json_text(text: str, *, as_list: bool = False) -> str:
    """A JSON column's text re-encoded as the renderer writes the value the ORM would give. A function of the text
    alone, so kept for texts seen before (devices share their tags and their empty custom data)."""
    if text in _EMPTY_JSON:
        return "[]" if as_list else text
    value = json.loads(text)
    return _dumps(list(value) if as_list else value)


def _float(value: Any) -> str:
    """A float as the renderer writes it (float.__repr__); the renderer refuses NaN and infinities (strict JSON)."""
    number = float(value)
    if not math.isfinite(number):
        raise HandOver
    return repr(number)


def _unicode_separators(text: str) -> str:
    """What the renderer does last to its JSON: U+2028 and U+2029 escaped (JavaScript reads them as line ends)."""
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") if ("\u2028" in text or "\u2029" in text) else text


def _text_address(family: int, value: int) -> str:
    """ipaddress's text of an address, through the C library (ten times faster). The C library writes the same
    text (RFC 5952) except for IPv4-compatible and -mapped IPv6 addresses (`::1.2.3.4`), which ipaddress writes."""
    if family == 4:
        return socket.inet_ntoa(value.to_bytes(4, "big"))
    if value >> 32 in (0, 0xFFFF):
        return str(ipaddress.IPv6Address(value))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def _next_address(family: int, gateway: str) -> str:
    """Block.address: the address after the gateway."""
    packed = socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, gateway)
    return _text_address(family, int.from_bytes(packed, "big") + 1)


_netmask = lru_cache(maxsize=None)(ip_netmask)  # a function of (family, prefix length); ipaddress builds a network for it
_IP_TYPE = {(4, True): "public_ipv4", (4, False): "private_ipv4", (6, True): "public_ipv6", (6, False): "private_ipv6"}


class _Addresses:
    """The page's active assignments as ipam.api.serializers.customer_ip renders an assignment (the same keys in
    the same order, the same values), written as JSON text from rows; what repeats (a parent block, a project, the
    device an address is assigned to) written once per request."""

    def __init__(self, rows: list[tuple]) -> None:
        self.parents: dict[int, str] = {}
        self.projects: dict[str | None, str] = {None: "null"}
        self.devices: dict[str, str] = {}
        grouped: dict[str, list[tuple]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row)
        # customer's order: IPv4 before IPv6, public first; newest first within (the statement's order, a stable sort)
        self.by_device = {k: f"[{','.join(self.address(r) for r in sorted(v, key=lambda r: (r[2], not r[6])))}]"
                          for k, v in grouped.items()}

    def parent(self, pk: int, kind: str, family: int, prefix_length: int, first: Any) -> str:
        found = self.parents.get(pk)
        if found is None:
            href = "" if kind == Kind.POOL else ip_href(pk)  # a pool is staff space: no href for the customer
            found = self.parents[pk] = (f'{{"network":"{_text_address(family, int(first))}","cidr":{prefix_length},'
                                        f'"netmask":"{_netmask(family, prefix_length)}","href":"{href}"}}')
        return found

    def address(self, row: tuple) -> str:
        (device_id, pk, family, prefix_length, first, gateway, public, project_id, server_id, assigned_at, description, tags,
         customdata, device_label, parent_id, *parent) = row
        network = _text_address(family, int(first))
        address = _next_address(family, gateway) if gateway else network
        project = self.projects.get(project_id)
        if project is None:
            project = self.projects[project_id] = f'{{"id":"{project_id}","href":"{BASE}/projects/{project_id}"}}'
        assigned_to = self.devices.get(device_id) if device_id else '{"href":""}'
        if assigned_to is None:
            assigned_to = self.devices[device_id] = (
                f'{{"id":"{device_id}","hostname":{_quote(device_label)},"href":"{BASE}/devices/{device_id}"}}')
        parent_block = self.parent(parent_id, *parent) if parent_id is not None else "null"
        ip_id = public_id("ip", pk)
        return (f'{{"id":"{ip_id}","address_family":{family},"netmask":"{_netmask(family, prefix_length)}",'
                f'"public":{_BOOL[public]},"cidr":{prefix_length},"network":"{network}","address":"{address}",'
                f'"gateway":{_text(gateway)},"type":"{_IP_TYPE[(family, public)]}","management":{_BOOL[server_id is not None]},'
                f'"manageable":{_BOOL[server_id is None]},"enabled":true,"global_ip":false,"created_at":{_text(assigned_at)},'
                f'"released_at":null,"details":{_quote(description)},"tags":{_json_text(tags, as_list=True)},'
                f'"customdata":{_json_text(customdata)},"project":{project},"project_lite":{project},"href":"{BASE}/ips/{ip_id}",'
                f'"assigned_to":{assigned_to},"parent_block":{parent_block}}}')


# The compiled visibility subquery per caller: compiling visible_projects() costs more than the page's statements.
_VISIBLE: dict[tuple, tuple[str, tuple]] = {}


def _visible(request: HttpRequest) -> tuple[str, tuple]:
    """The caller's visible projects' ids as a subquery (accounts.selectors.visible_projects: the one rule), compiled
    once per caller. The SQL reads memberships when it runs; what is compiled in is only who asks, and how."""
    user, token = request.user, request_token(request)
    key = (user.pk, user.is_active, user.is_staff, user.is_superuser,  # type: ignore[union-attr]
           token.pk if token is not None else None, token.read_only if token is not None else None,
           token.project_id if token is not None else None)
    found = _VISIBLE.get(key)
    if found is None:
        if len(_VISIBLE) > 4096:
            _VISIBLE.clear()
        found = _VISIBLE[key] = visible_projects(user, token).order_by().values("pk").query.sql_with_params()
    return found


class _Page:
    """What a page's devices show besides their own row, read in two statements and built once per request."""

    def __init__(self, cursor: Any, rows: list[tuple]) -> None:
        ids = "{" + ",".join(row[0] for row in rows) + "}"  # one uuid[] parameter as text: psycopg dumps a list in Python
        self.catalog: dict[tuple[str, Any], str] = {}
        self.installs: dict[str, tuple[str, str, int, str | None]] = {}
        cursor.execute(_statements()["installs"], [ids])
        for device_id, _install_id, kind, state, highest, texts in cursor.fetchall():
            self.installs[device_id] = (kind, state, highest, texts)
        cursor.execute(_statements()["addresses"], [ids])
        self.addresses = _Addresses(cursor.fetchall()).by_device
        servers = {row[-2]: uuid.UUID(row[0]) for row in rows if row[-2] is not None}
        self.nics = ports_by_device(servers) if servers else {}

    def shared(self, kind: str, key: Any, build: Any) -> str:
        """The JSON of a catalog object many devices show, encoded once per request."""
        found = self.catalog.get((kind, key))
        if found is None:
            found = self.catalog[(kind, key)] = _dumps(build())
        return found

    def device(self, row: tuple) -> str:
        """serializers.device_repr as the renderer writes it (the same keys in the same order, the same values), from a
        row of the `device`/`page` statement. Strings are escaped by json's own C function; U+2028/9 with the rest."""
        (pk, hostname, description, state, tags, userdata, customdata, billing_cycle, locked, always_pxe, ipxe_script_url,
         spot_instance, spot_price_max, termination_time, created_at, updated_at, project_id, hardware_reservation_id,
         created_by_id, failure_reason, plan_id, plan_slug, plan_name, plan_line, os_id, os_slug, os_name, os_distro, os_version,
         facility_id, facility_code, facility_name, facility_features, metro_id, metro_code, metro_name, metro_country,
         _server_id, _count) = row
        install = self.installs.get(pk)
        project = self.shared("project", project_id, lambda: {"id": project_id, "href": f"{BASE}/projects/{project_id}"})
        if install is None:
            percentage, events = 0, "[]"
        else:
            kind, state_of_install, highest, texts = install
            percentage = 100 if state_of_install == "succeeded" and kind in ("provision", "reinstall") else highest
            events = _events_json(texts) if texts else "[]"
        nics = self.nics.get(uuid.UUID(pk), []) if self.nics else []
        # bond0 in Layer 2: the real service shows no addresses (serializers.layer2_device).
        addresses = (self.addresses.get(pk) if not layer2_device(nics) else None) or "[]"
        plan = self.shared("plan", plan_id, lambda: {"id": public_id("plan", plan_id), "slug": plan_slug, "name": plan_name,
                                                     "class": plan_slug, "line": plan_line, "href": plan_href(plan_id)})
        facility = (self.shared("facility", facility_id, lambda: {
            "id": public_id("facility", facility_id), "code": facility_code, "name": facility_name,
            "features": _json_value(facility_features), "href": facility_href(facility_id)}) if facility_id is not None else "null")
        metro = (self.shared("metro", metro_id, lambda: {"id": public_id("metro", metro_id), "code": metro_code, "name": metro_name,
                                                         "country": metro_country, "href": metro_href(metro_id)})
                 if metro_id is not None else "null")
        operating_system = self.shared("os", os_id, lambda: {"id": public_id("operating_system", os_id), "slug": os_slug, "name": os_name,
                                                             "distro": os_distro, "version": os_version, "href": os_href(os_id)})
        sos = _quote(f"{pk}@sos.{facility_code}.{settings.SOS_DOMAIN}") if facility_id is not None else "null"
        reservation = (f'{{"href":{_quote(f"{BASE}/hardware-reservations/{hardware_reservation_id}")}}}'
                       if hardware_reservation_id is not None else "null")
        created_by = (f'{{"href":{_quote(BASE + "/users/" + public_id("user", created_by_id))}}}' if created_by_id is not None else "null")
        failed = f',"failure_reason":{_text(failure_reason)}' if state == "failed" else ""
        return (f'{{"id":"{pk}","short_id":"{pk[:8]}","hostname":{_text(hostname)},"description":{_text(description)},'
                f'"state":{_text(state)},"tags":{_json_text(tags, as_list=True)},"userdata":{_text(userdata)},'
                f'"customdata":{_json_text(customdata)},"billing_cycle":{_text(billing_cycle)},"locked":{_BOOL[locked]},'
                f'"always_pxe":{_BOOL[always_pxe]},"ipxe_script_url":{_text(ipxe_script_url or None)},"sos":{sos},'
                f'"spot_instance":{_BOOL[spot_instance]},'
                f'"spot_price_max":{_float(spot_price_max) if spot_price_max is not None else "null"},'
                f'"termination_time":{_text(termination_time)},"network_frozen":false,"created_at":{_text(created_at)},'
                f'"updated_at":{_text(updated_at)},"plan":{plan},"facility":{facility},"metro":{metro},'
                f'"operating_system":{operating_system},"ip_addresses":{addresses},"network_ports":{_dumps(network_ports(nics)) if nics else "[]"},'
                f'"ssh_keys":[],"project":{project},"project_lite":{project},"hardware_reservation":{reservation},'
                f'"created_by":{created_by},"actions":[],"href":"{BASE}/devices/{pk}","provisioning_percentage":{percentage},'
                f'"provisioning_events":{events}{failed}}}')


def _plain(request: HttpRequest) -> None:
    if connection.vendor != "postgresql":
        raise HandOver


@lean(views.DeviceDetailView, "GET")
def device_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    _plain(request)
    if request.GET:
        raise HandOver
    visible, params = _visible(request)
    with prepared_cursor() as cursor:
        cursor.execute(_statements()["device"].format(visible=visible), [pk, *params])
        row = cursor.fetchone()
        if row is None:
            raise HandOver  # not there, deleted, or another tenant's: the DRF view's 404
        page = _Page(cursor, [row])
    return json_response(body=_unicode_separators(page.device(row)).encode(), allow=_allowed(views.DeviceDetailView))


def _page_request(request: HttpRequest) -> tuple[int, int]:
    """(page, per_page) when the query string holds nothing else, each given once as a plain positive number."""
    if not set(request.GET) <= _PAGE_PARAMS or any(len(request.GET.getlist(name)) != 1 for name in request.GET):
        raise HandOver
    page, per_page = request.GET.get("page", "1"), request.GET.get("per_page")
    if not _POSITIVE.fullmatch(page) or (per_page is not None and not _POSITIVE.fullmatch(per_page)):
        raise HandOver  # `page=last`, zero, signs, spaces: the paginator's own rules answer
    size = min(int(per_page), MetalPagination.max_page_size) if per_page is not None else MetalPagination.page_size
    return int(page), size


def _href(request: HttpRequest, number: int) -> dict[str, str]:
    """MetalPagination._href."""
    params = [(k, v) for k, values in request.GET.lists() for v in values if k != "page"]
    params.append(("page", str(number)))
    return {"href": f"{request.path}?{urlencode(params)}"}


@lean(views.ProjectDeviceListView, "GET")
def project_devices(request: HttpRequest, project_pk: Any) -> HttpResponse:
    _plain(request)
    number, size = _page_request(request)
    visible, params = _visible(request)
    with prepared_cursor() as cursor:
        cursor.execute(_statements()["page"].format(visible=visible), [project_pk, *params, size, (number - 1) * size])
        rows = cursor.fetchall()
        if not rows:
            raise HandOver  # an empty project, a page past the last, or a project the caller cannot see
        page = _Page(cursor, rows)
    total = rows[0][-1]
    last = max(1, -(-total // size))
    meta = {
        "first": _href(request, 1),
        "previous": _href(request, number - 1) if number > 1 else None,
        "self": _href(request, number),
        "next": _href(request, number + 1) if number < last else None,
        "last": _href(request, last),
        "current_page": number,
        "last_page": last,
        "total": total,
    }
    # What the renderer writes for {"devices": [...], "meta": {...}}, the devices already written.
    body = f'{{"devices":[{",".join(page.device(row) for row in rows)}],"meta":{_dumps(meta)}}}'
    return json_response(body=_unicode_separators(body).encode(), allow=_allowed(views.ProjectDeviceListView))


@cache
def _allowed(view: type) -> str:
    """The Allow header DRF sends for the view: its methods in its order, HEAD with GET (as_view adds it)."""
    return ", ".join(m.upper() for m in view.http_method_names if hasattr(view, m) or (m == "head" and hasattr(view, "get")))

