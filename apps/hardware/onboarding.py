"""Onboarding a rack from a CSV file: parse, check everything, then write everything or nothing.

One row per server (see docs/inventory.md for the columns). The whole file is checked before
anything is written and every problem is reported by line and column. Existing servers are
matched by serial and updated; re-importing the same file changes nothing. Whatever the size of
the file, the check reads the database in a fixed number of queries and the write is done in bulk.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import SECRET_FIELD_MARK, audit_record
from apps.facilities.models import Facility, Rack
from apps.hardware.fields import normalize_mac
from apps.hardware.models import (
    BMC,
    BMC_DEFAULT_PORT,
    BMCProtocol,
    Cable,
    NetworkInterface,
    Plan,
    RackUnit,
    Server,
    Switch,
    SwitchPort,
    sync_rack_units,
)

SERVER_COLUMNS = ["serial", "asset_tag", "plan", "facility", "rack", "u"]
OPTIONAL_COLUMNS = ["height_u"]
BMC_COLUMNS = ["bmc_protocol", "bmc_host", "bmc_port", "bmc_username", "bmc_password"]
NIC_FIELDS = ["name", "mac", "switch", "port"]
NIC_OPTIONAL_FIELDS = ["speed_mbps"]
NIC_COLUMN = re.compile(r"^nic(\d+)_(name|mac|switch|port|speed_mbps)$")
NAME_RE = re.compile(r"^\S+$")
MAX_ERRORS = 1000  # a file of 10,000 bad lines is reported in full up to this many


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}" if self.column else f"line {self.line}: {self.message}"


class ImportRejected(Exception):
    """The file has problems; nothing was written. `errors` lists every one by line and column."""

    api_status = 422

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column))
        shown = "\n".join(f"  {e}" for e in self.errors[:MAX_ERRORS])
        more = f"\n  … and {len(self.errors) - MAX_ERRORS} more" if len(self.errors) > MAX_ERRORS else ""
        super().__init__(f"The file was not imported (nothing was changed): {len(self.errors)} problem(s).\n{shown}{more}\n"
                         "Correct these lines and import the whole file again.")


@dataclass
class NicRow:
    slot: int
    name: str
    mac: str
    switch: str
    port: str
    speed_mbps: int | None


@dataclass
class ServerRow:
    line: int
    serial: str
    asset_tag: str
    plan: str
    facility: str
    rack: str
    u: int | None
    height_u: int | None
    bmc_protocol: str
    bmc_host: str
    bmc_port: int | None
    bmc_username: str
    bmc_password: str
    nics: list[NicRow] = field(default_factory=list)


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would be" if self.dry_run else "were"
        return f"{len(self.created)} server(s) {verb} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged."


# ---------------------------------------------------------------------------------------------- parsing


def _int(text: str, *, line: int, column: str, errors: list[RowError], low: int, high: int) -> int | None:
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        errors.append(RowError(line, column, f"'{text}' is not a whole number."))
        return None
    if not low <= value <= high:
        errors.append(RowError(line, column, f"{value} is out of range ({low}–{high})."))
        return None
    return value


def parse(text: str) -> tuple[list[ServerRow], list[RowError]]:
    """Read the CSV text into rows, with every problem a single cell can have on its own."""
    errors: list[RowError] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = headers
    if not headers:
        return [], [RowError(1, "", "The file is empty; the first line must name the columns (see docs/inventory.md).")]
    slots = sorted({int(m.group(1)) for h in headers if (m := NIC_COLUMN.match(h))})
    known = set(SERVER_COLUMNS + OPTIONAL_COLUMNS + BMC_COLUMNS) | {h for h in headers if NIC_COLUMN.match(h)}
    for column in SERVER_COLUMNS + BMC_COLUMNS + [f"nic{s}_{f}" for s in slots for f in NIC_FIELDS]:
        if column not in headers:
            errors.append(RowError(1, column, "This column is missing from the header line."))
    for column in headers:
        if column not in known:
            errors.append(RowError(1, column, "Unknown column; the columns are listed in docs/inventory.md."))
    if len(set(headers)) != len(headers):
        errors.append(RowError(1, "", "A column name appears twice in the header line."))
    if errors:
        return [], errors

    rows: list[ServerRow] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(RowError(line, "", f"This line has more cells than the header line has columns ({len(headers)})."))
            continue
        cell = {k: (v or "").strip() for k, v in record.items()}
        if not any(cell.values()):
            continue  # blank line
        row = ServerRow(
            line=line, serial=cell["serial"], asset_tag=cell["asset_tag"], plan=cell["plan"], facility=cell["facility"].lower(),
            rack=cell["rack"],
            u=_int(cell["u"], line=line, column="u", errors=errors, low=0, high=100),
            height_u=_int(cell.get("height_u", ""), line=line, column="height_u", errors=errors, low=1, high=10),
            bmc_protocol=cell["bmc_protocol"].lower(), bmc_host=cell["bmc_host"],
            bmc_port=_int(cell["bmc_port"], line=line, column="bmc_port", errors=errors, low=0, high=65535),
            bmc_username=cell["bmc_username"], bmc_password=record["bmc_password"] or "",
        )
        for column, value in (("serial", row.serial), ("plan", row.plan), ("facility", row.facility), ("bmc_host", row.bmc_host),
                              ("bmc_username", row.bmc_username)):
            if not value:
                errors.append(RowError(line, column, "This cell is empty; it is required."))
        if row.serial and not NAME_RE.match(row.serial):
            errors.append(RowError(line, "serial", f"'{row.serial}' has spaces; a serial number has none."))
        if row.bmc_protocol not in BMCProtocol.values:
            errors.append(RowError(line, "bmc_protocol", f"'{row.bmc_protocol}' is not a BMC protocol; use one of: {', '.join(BMCProtocol.values)}."))
        if row.rack and cell["u"] == "":
            errors.append(RowError(line, "u", f"Give the lowest U the server occupies in rack {row.rack}."))
        if not row.rack and cell["u"]:
            errors.append(RowError(line, "rack", "A U position needs a rack."))
        if row.u is not None and row.u < 1:
            errors.append(RowError(line, "u", "U positions start at U1 (the bottom of the rack)."))
        names: set[str] = set()
        for slot in slots:
            values = {f: cell.get(f"nic{slot}_{f}", "") for f in NIC_FIELDS + NIC_OPTIONAL_FIELDS}
            if not any(values.values()):
                continue
            prefix = f"nic{slot}_"
            nic = NicRow(slot=slot, name=values["name"], mac="", switch=values["switch"], port=values["port"],
                         speed_mbps=_int(values["speed_mbps"], line=line, column=prefix + "speed_mbps", errors=errors, low=1, high=10**6))
            if not nic.name or not NAME_RE.match(nic.name):
                errors.append(RowError(line, prefix + "name", "Give the NIC's name without spaces (e.g. eth0)."))
            elif nic.name in names:
                errors.append(RowError(line, prefix + "name", f"NIC name '{nic.name}' appears twice on this line."))
            names.add(nic.name)
            try:
                nic.mac = normalize_mac(values["mac"])
            except ValidationError as exc:
                errors.append(RowError(line, prefix + "mac", exc.messages[0]))
            if bool(nic.switch) != bool(nic.port):
                column = prefix + ("port" if nic.switch else "switch")
                errors.append(RowError(line, column, "Give both the switch hostname and the switch port, or neither (not cabled)."))
            elif nic.port and not NAME_RE.match(nic.port):
                errors.append(RowError(line, prefix + "port", f"'{nic.port}' has spaces; a port name has none (e.g. xe-0/0/12)."))
            row.nics.append(nic)
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(1, "", "The file has a header line but no servers."))
    return rows, errors


# ---------------------------------------------------------------------------------------------- checking


@dataclass
class Referenced:
    """The database rows a file refers to, fetched in a fixed number of queries."""

    plans: dict[str, Plan]
    facilities: dict[str, Facility]
    racks: dict[tuple[str, str], Rack]
    switches: dict[str, Switch]
    ports: dict[tuple[int, str], dict[str, Any]]
    servers: dict[str, Server]
    nics: dict[tuple[str, str], NetworkInterface]
    mac_owner: dict[str, tuple[str, str]]
    units: dict[int, dict[int, tuple[str, str]]]


def _prefetch(rows: list[ServerRow]) -> Referenced:
    serials = {r.serial for r in rows}
    racks = {(rack.facility.code, rack.name): rack for rack in Rack.objects.select_related("facility")
             .filter(facility__code__in={r.facility for r in rows if r.rack}, name__in={r.rack for r in rows if r.rack})}
    switches = {s.hostname: s for s in Switch.objects.filter(hostname__in={n.switch for r in rows for n in r.nics if n.switch})}
    ports = {(p["switch_id"], p["name"]): p for p in SwitchPort.objects.filter(
        switch__in=list(switches.values()), name__in={n.port for r in rows for n in r.nics if n.port}).values(
        "id", "switch_id", "name", "cable__interface__name", "cable__interface__server__serial")}
    servers = {s.serial: s for s in Server.objects.filter(serial__in=serials).select_related("bmc", "plan", "facility", "rack")}
    nics = {(n.server.serial, n.name): n for n in NetworkInterface.objects.filter(server__in=list(servers.values()))
            .select_related("cable__port__switch", "server")}
    mac_owner = {mac: (serial, name) for mac, serial, name in NetworkInterface.objects.filter(
        mac__in={n.mac for r in rows for n in r.nics if n.mac}).values_list("mac", "server__serial", "name")}
    units: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    for rack_id, u, serial, hostname in RackUnit.objects.filter(rack__in=list(racks.values())).values_list(
            "rack_id", "u", "server__serial", "switch__hostname"):
        units[rack_id][u] = ("server", serial) if serial else ("switch", hostname)
    return Referenced(plans={p.slug: p for p in Plan.objects.filter(slug__in={r.plan for r in rows})},
                 facilities={f.code: f for f in Facility.objects.filter(code__in={r.facility for r in rows})},
                 racks=racks, switches=switches, ports=ports, servers=servers, nics=nics, mac_owner=mac_owner, units=units)


def check(rows: list[ServerRow], db: Referenced) -> list[RowError]:
    """Every problem that needs the database or other lines of the file."""
    errors: list[RowError] = []
    file_nics = {(r.serial, n.name) for r in rows for n in r.nics}
    seen_serial: dict[str, int] = {}
    seen_mac: dict[str, int] = {}
    seen_port: dict[tuple[str, str], int] = {}
    # U occupancy: what stays where it is (everything but the servers of this file), then each line in turn.
    occupied: dict[int, dict[int, str]] = defaultdict(dict)
    for rack_id, units in db.units.items():
        for u, (kind, name) in units.items():
            if not (kind == "server" and name in {r.serial for r in rows}):
                occupied[rack_id][u] = f"{kind} {name}"
    for row in rows:
        line = row.line
        if row.serial in seen_serial:
            errors.append(RowError(line, "serial", f"Serial {row.serial} is already on line {seen_serial[row.serial]}; one line per server."))
        seen_serial.setdefault(row.serial, line)
        plan = db.plans.get(row.plan)
        if row.plan and plan is None:
            errors.append(RowError(line, "plan", f"There is no plan '{row.plan}'; create it in the admin first or fix the slug."))
        facility = db.facilities.get(row.facility)
        if row.facility and facility is None:
            errors.append(RowError(line, "facility", f"There is no facility '{row.facility}'."))
        rack = db.racks.get((row.facility, row.rack)) if row.rack else None
        if row.rack and facility is not None and rack is None:
            errors.append(RowError(line, "rack", f"Facility {row.facility} has no rack '{row.rack}'; create the rack first."))
        height = row.height_u or (plan.height_u if plan else 1)
        if rack is not None and row.u is not None and row.u >= 1:
            top = row.u + height - 1
            if top > rack.height_u:
                errors.append(RowError(line, "u", f"U{row.u} with height {height}U reaches U{top}, above the top of rack {rack} (U{rack.height_u})."))
            else:
                taken = {u: occupied[rack.pk][u] for u in range(row.u, top + 1) if u in occupied[rack.pk]}
                if taken:
                    u, who = min(taken.items())
                    errors.append(RowError(line, "u", f"U{u} of rack {rack} is already taken by {who}."))
                for u in range(row.u, top + 1):
                    occupied[rack.pk].setdefault(u, f"server {row.serial} (line {line})")
        existing = db.servers.get(row.serial)
        if not row.bmc_password and (existing is None or not hasattr(existing, "bmc")):
            errors.append(RowError(line, "bmc_password", "This cell is empty; a new BMC needs its password (leave it empty only to keep a stored one)."))
        for nic in row.nics:
            prefix = f"nic{nic.slot}_"
            if nic.mac:
                if nic.mac in seen_mac:
                    errors.append(RowError(line, prefix + "mac", f"MAC {nic.mac} is already on line {seen_mac[nic.mac]}."))
                seen_mac.setdefault(nic.mac, line)
                owner = db.mac_owner.get(nic.mac)
                if owner is not None and owner != (row.serial, nic.name) and owner not in file_nics:
                    errors.append(RowError(line, prefix + "mac", f"MAC {nic.mac} belongs to {owner[0]} {owner[1]} in the records; "
                                                                 "correct or remove that NIC first."))
            if not nic.switch:
                continue
            switch = db.switches.get(nic.switch)
            if switch is None:
                errors.append(RowError(line, prefix + "switch", f"There is no switch '{nic.switch}'; add the switch in the admin first."))
                continue
            if facility is not None and switch.facility_id != facility.pk:
                errors.append(RowError(line, prefix + "switch", f"Switch {nic.switch} is not in facility {row.facility}; a cable cannot cross facilities."))
            key = (nic.switch, nic.port)
            if key in seen_port:
                errors.append(RowError(line, prefix + "port", f"{nic.switch} {nic.port} is already cabled on line {seen_port[key]}."))
            seen_port.setdefault(key, line)
            port = db.ports.get((switch.pk, nic.port))
            if port and port["cable__interface__server__serial"]:
                holder = (port["cable__interface__server__serial"], port["cable__interface__name"])
                if holder != (row.serial, nic.name) and holder not in file_nics:
                    errors.append(RowError(line, prefix + "port", f"{nic.switch} {nic.port} is cabled to {holder[0]} {holder[1]} in the records; "
                                                                  "remove that cable first."))
    return errors


# ---------------------------------------------------------------------------------------------- writing


def _placeholder_mac(pk: int) -> str:
    # A locally administered address unique per NIC, held for an instant while MACs swap places.
    return "02:00:" + ":".join(f"{(pk >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))


def _apply(rows: list[ServerRow], db: Referenced, *, actor: Any) -> ImportResult:
    created: list[str] = []
    updated: dict[str, dict[str, list[Any]]] = {}
    unchanged: list[str] = []
    Rack.objects.select_for_update().filter(pk__in=[r.pk for r in db.racks.values()]).values_list("pk", flat=True).count()

    new_servers: list[Server] = []
    changed_servers: list[Server] = []
    moved: list[Server] = []
    server_of: dict[str, Server] = {}
    server_fields = ["asset_tag", "plan", "facility", "rack", "position_u", "height_u"]
    for row in rows:
        plan, facility = db.plans[row.plan], db.facilities[row.facility]
        rack = db.racks.get((row.facility, row.rack)) if row.rack else None
        wanted = {"asset_tag": row.asset_tag, "plan": plan, "facility": facility, "rack": rack, "position_u": row.u if rack else None,
                  "height_u": row.height_u or plan.height_u}
        server = db.servers.get(row.serial)
        if server is None:
            server = Server(serial=row.serial, **wanted)
            new_servers.append(server)
            created.append(row.serial)
        else:
            changes = {k: [str(getattr(server, k)) if getattr(server, k) is not None else None, str(v) if v is not None else None]
                       for k, v in wanted.items() if getattr(server, k) != v}
            if changes:
                for k, v in wanted.items():
                    setattr(server, k, v)
                changed_servers.append(server)
                updated[row.serial] = changes
                if {"rack", "position_u", "height_u", "facility"} & set(changes):
                    moved.append(server)
        server_of[row.serial] = server
    if changed_servers:
        Server.objects.bulk_update(changed_servers, server_fields, batch_size=500)
    Server.objects.bulk_create(new_servers, batch_size=500)
    sync_rack_units(moved + new_servers)

    # BMCs
    new_bmcs, changed_bmcs = [], []
    for row in rows:
        server = server_of[row.serial]
        port = BMC_DEFAULT_PORT[row.bmc_protocol] if row.bmc_port is None else row.bmc_port
        bmc = getattr(server, "bmc", None) if row.serial not in created else None
        wanted = {"protocol": row.bmc_protocol, "host": row.bmc_host, "port": port, "username": row.bmc_username}
        if bmc is None:
            new_bmcs.append(BMC(server=server, password=row.bmc_password, **wanted))
            continue
        changes = {f"bmc.{k}": [getattr(bmc, k), v] for k, v in wanted.items() if getattr(bmc, k) != v}
        if row.bmc_password and row.bmc_password != bmc.password:
            changes["bmc.password"] = [SECRET_FIELD_MARK, SECRET_FIELD_MARK]
            bmc.password = row.bmc_password
        if changes:
            for k, v in wanted.items():
                setattr(bmc, k, v)
            changed_bmcs.append(bmc)
            updated.setdefault(row.serial, {}).update(changes)
    BMC.objects.bulk_create(new_bmcs, batch_size=500)
    if changed_bmcs:
        BMC.objects.bulk_update(changed_bmcs, ["protocol", "host", "port", "username", "password"], batch_size=500)

    # Switch ports named in the file that do not exist yet.
    missing_ports = {(db.switches[n.switch].pk, n.port) for r in rows for n in r.nics if n.switch} - set(db.ports)
    for port in SwitchPort.objects.bulk_create([SwitchPort(switch_id=s, name=p) for s, p in sorted(missing_ports)], batch_size=1000):
        db.ports[(port.switch_id, port.name)] = {"id": port.pk}

    # NICs: changed MACs first (through placeholders when MACs swap), then the new NICs.
    new_nics: list[NetworkInterface] = []
    changed_nics: list[NetworkInterface] = []
    wanted_port: dict[tuple[str, str], tuple[int, str] | None] = {}
    for row in rows:
        server = server_of[row.serial]
        for nic_row in row.nics:
            speed = nic_row.speed_mbps or server.plan.nic_speed_gbps * 1000
            key = (row.serial, nic_row.name)
            nic = db.nics.get(key)
            if nic is None:
                new_nics.append(NetworkInterface(server=server, name=nic_row.name, mac=nic_row.mac, speed_mbps=speed))
            elif nic.mac != nic_row.mac or nic.speed_mbps != speed:
                changes = updated.setdefault(row.serial, {})
                if nic.mac != nic_row.mac:
                    changes[f"{nic.name}.mac"] = [nic.mac, nic_row.mac]
                if nic.speed_mbps != speed:
                    changes[f"{nic.name}.speed_mbps"] = [nic.speed_mbps, speed]
                nic.mac, nic.speed_mbps = nic_row.mac, speed
                changed_nics.append(nic)
            wanted_port[key] = ((db.ports[(db.switches[nic_row.switch].pk, nic_row.port)]["id"], f"{nic_row.switch}/{nic_row.port}")
                                if nic_row.switch else None)
    # PostgreSQL checks a unique column row by row within one UPDATE, so when any NIC takes a MAC that
    # another NIC of this file gives up, every changing NIC first steps aside to a placeholder.
    if any(db.mac_owner.get(n.mac, (n.server.serial, n.name)) != (n.server.serial, n.name) for n in changed_nics):
        NetworkInterface.objects.bulk_update([NetworkInterface(pk=n.pk, mac=_placeholder_mac(n.pk)) for n in changed_nics], ["mac"])
    if changed_nics:
        NetworkInterface.objects.bulk_update(changed_nics, ["mac", "speed_mbps"], batch_size=500)
    NetworkInterface.objects.bulk_create(new_nics, batch_size=500)

    # Cables: take down the ones that change, then lay the new ones (a port may pass from one NIC to another).
    nic_by_key = {**db.nics, **{(n.server.serial, n.name): n for n in new_nics}}
    stale: list[int] = []
    new_cables: list[Cable] = []
    for key, wanted in wanted_port.items():
        nic = nic_by_key[key]
        current = getattr(nic, "cable", None) if key in db.nics else None
        if current is not None and wanted is not None and current.port_id == wanted[0]:
            continue
        if current is not None:
            stale.append(current.pk)
        if wanted is not None:
            new_cables.append(Cable(interface=nic, port_id=wanted[0]))
        if key[0] not in created and (current is not None or wanted is not None):
            updated.setdefault(key[0], {})[f"{key[1]}.cable"] = [str(current.port) if current else None, wanted[1] if wanted else None]
    if stale:
        Cable.objects.filter(pk__in=stale).delete()
    Cable.objects.bulk_create(new_cables, batch_size=500)

    unchanged = [r.serial for r in rows if r.serial not in created and r.serial not in updated]
    if created or updated:
        audit_record(action="hardware.server.import", changes={"created": created, "updated": updated}, actor=actor,
                     reason=f"CSV import: {len(created)} created, {len(updated)} updated")
    return ImportResult(created=created, updated=sorted(updated), unchanged=unchanged)


def rack_import(*, text: str, actor: Any = None, dry_run: bool = False) -> ImportResult:
    """Import a rack CSV: all of it or, on any problem, none of it (ImportRejected lists every problem)."""
    rows, errors = parse(text)
    if errors and not rows:
        raise ImportRejected(errors)
    # Cell errors do not stop the cross-line and database checks: the operator gets every problem at once.
    db = _prefetch(rows)
    errors += check(rows, db)
    if errors:
        raise ImportRejected(errors)
    try:
        with transaction.atomic():
            result = _apply(rows, db, actor=actor)
            if dry_run:
                result.dry_run = True
                transaction.set_rollback(True)
    except ValidationError as exc:
        # Only a concurrent change between the check and the write gets here (e.g. a rack unit taken meanwhile).
        raise ImportRejected([RowError(0, "", message) for message in exc.messages]) from exc
    return result
