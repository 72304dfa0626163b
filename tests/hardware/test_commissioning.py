"""Commissioning check: a matching report makes a server ready; a mis-cabled server and one with too
little RAM get findings a human can read, and findings keep the server out of `ready`."""
from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError

from apps.hardware import services
from apps.hardware.commissioning import InvalidReport, commissioning_check, finding_waive
from apps.hardware.models import CommissioningFinding, FindingKind, FindingStatus, ServerState
from apps.hardware.services import OpenFindings
from tests.hardware.factories import (
    NetworkInterfaceFactory,
    PlanFactory,
    ServerFactory,
    SwitchFactory,
    SwitchPortFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    plan = PlanFactory(cpu_model="AMD EPYC 7402P", cpu_count=1, cpu_cores=24, ram_gb=64,
                       disks=[{"count": 2, "size_gb": 480, "type": "ssd"}], nic_count=2)
    server = ServerFactory(plan=plan, state=ServerState.COMMISSIONING)
    sw1 = SwitchFactory(facility=server.facility, hostname="sw1")
    sw2 = SwitchFactory(facility=server.facility, hostname="sw2")
    for name, mac, switch in (("eth0", "0c:c4:7a:10:00:00", sw1), ("eth1", "0c:c4:7a:10:00:01", sw2)):
        nic = NetworkInterfaceFactory(server=server, name=name, mac=mac)
        services.cable_connect(interface=nic, port=SwitchPortFactory(switch=switch, name="xe-0/0/3"))
    return server


GOOD = {
    "cpu": {"model": "AMD EPYC 7402P 24-Core Processor", "count": 1, "cores": 24},
    "ram_gb": 62.8,
    "disks": [{"name": "sda", "size_gb": 480, "serial": "S1", "type": "ssd"}, {"name": "sdb", "size_gb": 480, "serial": "S2", "type": "ssd"}],
    "nics": [{"name": "eth0", "mac": "0C:C4:7A:10:00:00", "lldp": {"switch": "sw1.da11.example.net", "port": "xe-0/0/3"}},
             {"name": "eth1", "mac": "0c:c4:7a:10:00:01", "lldp": {"switch": "sw2", "port": "xe-0/0/3"}}],
}


def report(**changes):
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


def test_matching_report_makes_the_server_ready(server):
    assert commissioning_check(server=server, report=GOOD) == []
    server.refresh_from_db()
    assert server.state == ServerState.READY and "matches the records" in server.state_reason


def test_mis_cabled_server(server):
    bad = report()
    bad["nics"][1]["lldp"] = {"switch": "sw2", "port": "xe-0/0/5"}
    findings = commissioning_check(server=server, report=bad)
    assert [(f.kind, f.message) for f in findings] == [
        (FindingKind.CABLING, "eth1 MAC 0c:c4:7a:10:00:01 is cabled to sw2/xe-0/0/3 in the records but LLDP sees sw2/xe-0/0/5."),
    ]
    server.refresh_from_db()
    assert server.state == ServerState.COMMISSIONING
    with pytest.raises(OpenFindings) as exc:
        services.server_transition(server=server, to=ServerState.READY)
    assert "LLDP sees sw2/xe-0/0/5" in str(exc.value) and "waive" in str(exc.value)


def test_too_little_ram(server):
    findings = commissioning_check(server=server, report=report(ram_gb=32))
    assert [f.message for f in findings] == [f"RAM: 32 GB seen; plan {server.plan.slug} needs 64 GB. Check the DIMMs."]
    assert findings[0].kind == FindingKind.RAM


def test_cpu_disk_and_nic_differences(server):
    bad = report(cpu={"model": "Intel Xeon E-2278G", "count": 1, "cores": 8},
                 disks=[{"name": "sda", "size_gb": 480, "serial": "S1", "type": "ssd"}])
    bad["nics"].append({"name": "eth2", "mac": "0c:c4:7a:10:00:09"})
    bad["nics"][1]["lldp"] = None
    messages = [f.message for f in commissioning_check(server=server, report=bad)]
    assert any("CPU model is 'Intel Xeon E-2278G'" in m for m in messages)
    assert any("8 cores per CPU seen" in m for m in messages)
    assert any("2 × 480 GB ssd; 1 such disk(s) seen" in m for m in messages)
    assert any("NIC eth2 MAC 0c:c4:7a:10:00:09 is seen but is not in the records" in m for m in messages)
    assert any("eth1 MAC 0c:c4:7a:10:00:01 is cabled to sw2/xe-0/0/3 in the records but LLDP sees no neighbour" in m for m in messages)


def test_a_missing_nic_is_a_finding(server):
    findings = commissioning_check(server=server, report=report(nics=GOOD["nics"][:1]))
    assert {f.message for f in findings} == {
        f"1 NIC(s) seen; plan {server.plan.slug} has 2.",
        "eth1 MAC 0c:c4:7a:10:00:01 is in the records but the report does not show it.",
    }


def test_a_later_clean_report_resolves_old_findings(server):
    commissioning_check(server=server, report=report(ram_gb=16))
    assert commissioning_check(server=server, report=GOOD) == []
    assert set(CommissioningFinding.objects.filter(server=server).values_list("status", flat=True)) == {FindingStatus.RESOLVED}
    server.refresh_from_db()
    assert server.state == ServerState.READY


def test_waived_findings_let_the_server_become_ready(server, staff_user):
    [finding] = commissioning_check(server=server, report=report(ram_gb=32))
    with pytest.raises(ValidationError):
        finding_waive(finding=finding, actor=staff_user, reason=" ")
    finding_waive(finding=finding, actor=staff_user, reason="half the DIMMs are on order; sell as is for a week")
    services.server_transition(server=server, to=ServerState.READY, actor=staff_user)
    server.refresh_from_db()
    assert server.state == ServerState.READY


def test_a_malformed_report_is_refused(server):
    with pytest.raises(InvalidReport, match="lacks ram_gb"):
        commissioning_check(server=server, report={"cpu": {}, "disks": [], "nics": []})
    assert not CommissioningFinding.objects.exists()


def test_the_lab_discovery_shape_is_understood(server):
    # the installer (apps/installs/installer) sends bytes and a top-level LLDP list; same meaning, no findings.
    lab = {"serial": server.serial, "cpu": {"count": 1, "cores": 24, "model": "AMD EPYC 7402P"}, "memory_bytes": 64 * 2**30,
           "disks": [{"name": "sda", "size_bytes": 480 * 10**9}, {"name": "sdb", "size_bytes": 480 * 10**9, "type": "ssd"}],
           "nics": [{"name": "eth0", "mac": "0c:c4:7a:10:00:00"}, {"name": "eth1", "mac": "0c:c4:7a:10:00:01"}],
           "lldp": [{"interface": "eth0", "switch": "sw1", "port": "xe-0/0/3"}, {"interface": "eth1", "switch": "sw2", "port": "xe-0/0/3"}]}
    assert services.server_commissioning_check(server=server, report=lab) == []
    lab["lldp"][0]["port"] = "xe-0/0/4"
    server.refresh_from_db()
    services.server_transition(server=server, to=ServerState.COMMISSIONING)
    [finding] = services.server_commissioning_check(server=server, report=lab)
    assert finding.message == "eth0 MAC 0c:c4:7a:10:00:00 is cabled to sw1/xe-0/0/3 in the records but LLDP sees sw1/xe-0/0/4."


def test_a_report_without_any_lldp_gets_one_cabling_finding(server):
    bare = report(nics=[{"name": "eth0", "mac": "0c:c4:7a:10:00:00"}, {"name": "eth1", "mac": "0c:c4:7a:10:00:01"}])
    findings = commissioning_check(server=server, report=bare)
    assert [f.kind for f in findings] == [FindingKind.CABLING] and "no LLDP neighbours at all" in findings[0].message
