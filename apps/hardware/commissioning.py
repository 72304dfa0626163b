"""Commissioning: compare what a server's discovery image reports with its plan and its cabling.

Every difference becomes a CommissioningFinding written for a human; a server with open findings
cannot enter `ready` (services.server_transition refuses). The report's shape (docs/inventory.md):

    {"cpu": {"model": "AMD EPYC 7402P 24-Core Processor", "count": 1, "cores": 24},
     "ram_gb": 64,
     "disks": [{"name": "sda", "size_gb": 480, "serial": "S4EV...", "type": "ssd"}, ...],
     "nics": [{"name": "eth0", "mac": "0c:c4:7a:00:00:01", "lldp": {"switch": "sw1", "port": "xe-0/0/3"}}, ...]}
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.hardware.fields import normalize_mac
from apps.hardware.models import (
    CommissioningFinding,
    CommissioningReport,
    FindingKind,
    FindingStatus,
    NetworkInterface,
    Server,
    ServerState,
)

# An OS sees a little less memory than is installed (firmware reservations) and disk vendors
# count in decimal gigabytes: tolerate that much, no more.
RAM_TOLERANCE = 0.95
DISK_TOLERANCE = 0.90


class InvalidReport(ValueError):
    """The report is not in the documented shape (the API answers 400)."""

    api_status = 400


def normalize_report(report: Any) -> dict[str, Any]:
    """The report in one shape. Discovery images may also send `memory_bytes`, disks with `size_bytes`,
    and LLDP neighbours as a top-level list of {"interface", "switch", "port"} (the installer, apps/installs/installer, does)."""
    if not isinstance(report, dict):
        raise InvalidReport("A commissioning report is a JSON object with cpu, ram_gb (or memory_bytes), disks and nics.")
    missing = [k for k in ("cpu", "disks", "nics") if k not in report]
    if "ram_gb" not in report and "memory_bytes" not in report:
        missing.insert(1, "ram_gb")
    if missing:
        raise InvalidReport(f"The commissioning report lacks {', '.join(missing)}; see docs/inventory.md for its shape.")
    if not isinstance(report["disks"], list) or not isinstance(report["nics"], list) or not isinstance(report["cpu"], dict):
        raise InvalidReport("In a commissioning report, cpu is an object and disks and nics are lists.")
    try:
        ram_gb = float(report["ram_gb"]) if "ram_gb" in report else int(report["memory_bytes"]) / 2**30
        disks = [{**d, "size_gb": float(d["size_gb"]) if "size_gb" in d else int(d.get("size_bytes") or 0) / 10**9}
                 for d in report["disks"] if isinstance(d, dict)]
    except (TypeError, ValueError) as exc:
        raise InvalidReport(f"The commissioning report has a size that is not a number: {exc}.") from None
    neighbours = {str(n.get("interface")): n for n in report.get("lldp") or [] if isinstance(n, dict)}
    nics = []
    for nic in report["nics"]:
        if not isinstance(nic, dict):
            raise InvalidReport(f"A NIC in the commissioning report is not an object: {nic!r}.")
        lldp = nic.get("lldp") or neighbours.get(str(nic.get("name")))
        nics.append({**nic, "lldp": lldp})
    has_lldp = bool(neighbours) or any(n["lldp"] for n in nics)
    return {"cpu": report["cpu"], "ram_gb": ram_gb, "disks": disks, "nics": nics, "has_lldp": has_lldp}


def _same_switch(recorded: str, seen: str) -> bool:
    # LLDP system names are often fully qualified where the records hold the short name, or vice versa.
    a, b = recorded.lower().rstrip("."), seen.lower().rstrip(".")
    return a == b or a.split(".")[0] == b.split(".")[0]


def compare(*, server: Server, report: dict[str, Any], interfaces: list[NetworkInterface]) -> list[tuple[str, str]]:
    """The findings (kind, message) of `report` against `server`'s plan and `interfaces` (with cables)."""
    report = normalize_report(report)
    plan = server.plan
    findings: list[tuple[str, str]] = []

    cpu = report["cpu"]
    model = str(cpu.get("model", ""))
    if plan.cpu_model.lower() not in model.lower():
        findings.append((FindingKind.CPU, f"CPU model is '{model or 'not reported'}'; plan {plan.slug} has {plan.cpu_model}."))
    if cpu.get("count") != plan.cpu_count:
        findings.append((FindingKind.CPU, f"{cpu.get('count')} CPU(s) seen; plan {plan.slug} has {plan.cpu_count}."))
    if cpu.get("cores") is not None and cpu.get("cores") != plan.cpu_cores:
        findings.append((FindingKind.CPU, f"{cpu.get('cores')} cores per CPU seen; plan {plan.slug} has {plan.cpu_cores}."))

    ram = report["ram_gb"]
    if ram < plan.ram_gb * RAM_TOLERANCE:
        findings.append((FindingKind.RAM, f"RAM: {ram:g} GB seen; plan {plan.slug} needs {plan.ram_gb} GB. Check the DIMMs."))

    disks = report["disks"]
    used: set[int] = set()
    for spec in plan.disks:
        # A disk whose type the image could not tell counts for any type.
        matching = [i for i, d in enumerate(disks) if i not in used and str(d.get("type") or spec["type"]).lower() == spec["type"].lower()
                    and d["size_gb"] >= spec["size_gb"] * DISK_TOLERANCE]
        used.update(matching[: spec["count"]])
        if len(matching) < spec["count"]:
            findings.append((FindingKind.DISK, f"Disks: plan {plan.slug} has {spec['count']} × {spec['size_gb']} GB {spec['type']}; "
                                               f"{len(matching)} such disk(s) seen."))
    serials = [d.get("serial") for d in disks if d.get("serial")]
    for serial in sorted({s for s in serials if serials.count(s) > 1}):
        findings.append((FindingKind.DISK, f"Disk serial {serial} is reported more than once (a multipath or a faulty report)."))

    seen: dict[str, dict[str, Any]] = {}
    for nic in report["nics"]:
        try:
            seen[normalize_mac(nic.get("mac"))] = nic
        except (ValidationError, AttributeError):
            findings.append((FindingKind.NIC, f"The report lists a NIC with an unreadable MAC: {nic!r}."))
    recorded_macs = {i.mac for i in interfaces}
    for mac, nic in sorted(seen.items()):
        if mac not in recorded_macs:
            findings.append((FindingKind.NIC, f"NIC {nic.get('name', '?')} MAC {mac} is seen but is not in the records; add it to the "
                                              "inventory (or fix the recorded MAC)."))
    if len(seen) < plan.nic_count:
        findings.append((FindingKind.NIC, f"{len(seen)} NIC(s) seen; plan {plan.slug} has {plan.nic_count}."))
    if not report["has_lldp"] and any(getattr(i, "cable", None) for i in interfaces):
        findings.append((FindingKind.CABLING, "The report has no LLDP neighbours at all, so the cabling could not be checked; "
                                              "enable LLDP on the switches (or in the discovery image) and re-commission, or waive this."))
    for interface in interfaces:
        nic = seen.get(interface.mac)
        if nic is None:
            findings.append((FindingKind.NIC, f"{interface.name} MAC {interface.mac} is in the records but the report does not show it."))
            continue
        cable = getattr(interface, "cable", None)
        lldp = nic.get("lldp") or {}
        seen_at = f"{lldp.get('switch')}/{lldp.get('port')}" if lldp.get("switch") and lldp.get("port") else None
        if cable is None:
            if seen_at:
                findings.append((FindingKind.CABLING, f"{interface.name} MAC {interface.mac} has no cable in the records but LLDP sees "
                                                      f"{seen_at}; record the cable."))
            continue
        recorded_at = f"{cable.port.switch.hostname}/{cable.port.name}"
        if seen_at is None:
            if not report["has_lldp"]:
                continue  # already said once above
            findings.append((FindingKind.CABLING, f"{interface.name} MAC {interface.mac} is cabled to {recorded_at} in the records but "
                                                  "LLDP sees no neighbour; check the cable and the switch port."))
        elif not (_same_switch(cable.port.switch.hostname, str(lldp["switch"])) and cable.port.name == str(lldp["port"])):
            findings.append((FindingKind.CABLING, f"{interface.name} MAC {interface.mac} is cabled to {recorded_at} in the records but "
                                                  f"LLDP sees {seen_at}."))
    return findings


def commissioning_check(*, server: Server, report: dict[str, Any], actor: Any = None, promote: bool = True) -> list[CommissioningFinding]:
    """Store `report`, replace the server's open findings with this report's, and — when there are none,
    the server is commissioning and `promote` — move it to `ready`. Returns the new findings. (An install's
    commissioning passes promote=False: the BMC confirms the report first, apps.installs.services.steps.)"""
    from apps.hardware.services import server_transition

    with transaction.atomic():
        server = Server.objects.select_for_update().select_related("plan").get(pk=server.pk)
        interfaces = list(NetworkInterface.objects.filter(server=server).select_related("cable__port__switch").order_by("name"))
        found = compare(server=server, report=report, interfaces=interfaces)
        stored = CommissioningReport.objects.create(server=server, data=report)
        CommissioningFinding.objects.filter(server=server, status=FindingStatus.OPEN).update(
            status=FindingStatus.RESOLVED, closed_at=timezone.now(), close_reason=f"superseded by report {stored.pk}")
        findings = CommissioningFinding.objects.bulk_create(
            [CommissioningFinding(server=server, report=stored, kind=kind, message=message) for kind, message in found])
        audit_record(action="hardware.server.commission", target=server, actor=actor,
                     changes={"report": [None, stored.pk], "findings": [None, [f.message for f in findings]]})
        if promote and not findings and server.state == ServerState.COMMISSIONING:
            server_transition(server=server, to=ServerState.READY, actor=actor, reason=f"commissioning report {stored.pk} matches the records")
    return findings


@transaction.atomic
def finding_waive(*, finding: CommissioningFinding, actor: Any, reason: str) -> CommissioningFinding:
    """A human accepts a difference (e.g. more RAM than the plan). The reason is required and audited."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why this finding can be waived."})
    if finding.status != FindingStatus.OPEN:
        raise ValidationError(f"This finding is already {finding.get_status_display().lower()}.")
    finding.status, finding.closed_at, finding.close_reason = FindingStatus.WAIVED, timezone.now(), reason
    finding.closed_by = actor if getattr(actor, "is_authenticated", False) else None
    finding.save(update_fields=["status", "closed_at", "close_reason", "closed_by"])
    audit_record(action="hardware.finding.waive", target=finding.server, changes={"finding": [finding.message, None]}, reason=reason,
                 actor=actor)
    return finding
