"""CSV onboarding: a good file, a file with errors on several lines (nothing written), idempotent
re-import, corrections by serial, and a query count that does not grow with the file."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.hardware.models import BMC, Cable, NetworkInterface, RackUnit, Server, ServerState
from apps.hardware.onboarding import ImportRejected, rack_import
from tests.facilities.factories import FacilityFactory, RackFactory
from tests.hardware.factories import PlanFactory, ServerFactory, SwitchFactory

pytestmark = pytest.mark.django_db

HEADER = ("serial,asset_tag,plan,facility,rack,u,bmc_protocol,bmc_host,bmc_port,bmc_username,bmc_password,"
          "nic1_name,nic1_mac,nic1_switch,nic1_port,nic2_name,nic2_mac,nic2_switch,nic2_port")


@pytest.fixture
def site():
    facility = FacilityFactory(code="tx1")
    rack = RackFactory(facility=facility, name="a01", height_u=42)
    SwitchFactory(facility=facility, rack=rack, position_u=42, hostname="tx1-a01-sw1")
    SwitchFactory(facility=facility, rack=rack, position_u=41, hostname="tx1-a01-sw2")
    PlanFactory(slug="c3.small.x86")
    PlanFactory(slug="s3.xlarge.x86", height_u=2)
    return rack


def line(n: int, *, u: int | None = None, plan: str = "c3.small.x86", serial: str | None = None, mac0: str | None = None,
         mac1: str | None = None, port0: str | None = None, port1: str | None = None, password: str = "pw", rack: str = "a01") -> str:
    return ",".join([
        serial or f"SRV{n:04d}", f"AT{n:04d}", plan, "tx1", rack, str(u if u is not None else n), "ipmi", f"10.0.0.{n}", "", "admin", password,
        "eth0", mac0 or f"0C-C4-7A-00-{n >> 8:02X}-{n & 255:02X}", "tx1-a01-sw1", port0 or f"xe-0/0/{n}",
        "eth1", mac1 or f"0c:c4:7a:01:{n >> 8:02x}:{n & 255:02x}", "tx1-a01-sw2", port1 or f"xe-0/0/{n}",
    ])


def csv_text(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def test_good_file_imports_everything(site):
    result = rack_import(text=csv_text(*(line(n) for n in range(1, 6))))
    assert result.created == [f"SRV{n:04d}" for n in range(1, 6)] and not result.updated
    server = Server.objects.get(serial="SRV0003")
    assert (server.state, server.rack, server.position_u, server.height_u, server.asset_tag) == (ServerState.NEW, site, 3, 1, "AT0003")
    assert list(RackUnit.objects.filter(server=server).values_list("u", flat=True)) == [3]
    assert BMC.objects.get(server=server).password == "pw" and BMC.objects.get(server=server).port == 623
    nic = NetworkInterface.objects.get(server=server, name="eth0")
    assert nic.mac == "0c:c4:7a:00:00:03" and nic.speed_mbps == 10000
    assert str(nic.cable.port) == "tx1-a01-sw1/xe-0/0/3"
    assert Cable.objects.count() == 10
    event = AuditEvent.objects.get(action="hardware.server.import")
    assert event.changes["created"] == result.created


def test_file_with_errors_on_several_lines_writes_nothing(site):
    ServerFactory(rack=site, position_u=20, serial="OLD1")
    text = csv_text(
        line(1),
        line(2, plan="nope.plan"),                           # line 3: unknown plan
        line(3, mac0="0c:c4:7a:zz:00:03"),                     # line 4: bad MAC
        line(4, u=20),                                       # line 5: U taken by OLD1
        line(5, serial="SRV0001", mac0="0c:c4:7a:09:09:09", mac1="0c:c4:7a:09:09:0a", port0="xe-0/0/30", port1="xe-0/0/30", u=30),
        line(6, port0="xe-0/0/1"),                           # line 7: port already cabled on line 2
        line(7, u=41),                                       # line 8: U41 is a switch
        line(8, plan="s3.xlarge.x86", u=42),                 # line 9: above the top
        line(9, password=""),                                # line 10: a new BMC needs a password
        line(10, rack="zz9"),                                # line 11: unknown rack
    )
    with pytest.raises(ImportRejected) as exc:
        rack_import(text=text)
    found = {(e.line, e.column) for e in exc.value.errors}
    assert found == {(3, "plan"), (4, "nic1_mac"), (5, "u"), (6, "serial"), (7, "nic1_port"), (8, "u"), (9, "u"), (10, "bmc_password"),
                     (11, "rack")}
    message = str(exc.value)
    assert "line 5, column u: U20 of rack tx1/a01 is already taken by server OLD1." in message
    assert "line 8, column u: U41 of rack tx1/a01 is already taken by switch tx1-a01-sw2." in message
    assert "line 9, column u: U42 with height 2U reaches U43" in message
    assert "line 6, column serial: Serial SRV0001 is already on line 2" in message
    assert "nothing was changed" in message
    assert Server.objects.count() == 1 and NetworkInterface.objects.count() == 0 and Cable.objects.count() == 0
    assert not AuditEvent.objects.filter(action="hardware.server.import").exists()


def test_header_problems_are_reported_on_line_1(site):
    with pytest.raises(ImportRejected) as exc:
        rack_import(text="serial,plan,colour\nX,c3.small.x86,red\n")
    columns = {e.column for e in exc.value.errors if e.line == 1}
    assert {"facility", "rack", "u", "bmc_host", "colour"} <= columns


def test_reimport_changes_nothing(site):
    text = csv_text(*(line(n) for n in range(1, 6)))
    rack_import(text=text)
    events = AuditEvent.objects.count()
    before = list(Server.objects.order_by("serial").values())
    with CaptureQueriesContext(connection) as queries:
        result = rack_import(text=text)
    assert result.unchanged == [f"SRV{n:04d}" for n in range(1, 6)] and not result.created and not result.updated
    assert list(Server.objects.order_by("serial").values()) == before
    assert AuditEvent.objects.count() == events
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []


def test_corrected_file_updates_by_serial(site):
    rack_import(text=csv_text(*(line(n) for n in range(1, 4))))
    server = Server.objects.get(serial="SRV0002")
    # Move SRV0002 up, swap its two MACs (a typo in the first file) and the cables of SRV0001 and SRV0003 on sw1.
    corrected = csv_text(
        line(1, port0="xe-0/0/3"),
        line(2, u=10, mac0="0c:c4:7a:01:00:02", mac1="0c:c4:7a:00:00:02", password="new-pw"),
        line(3, port0="xe-0/0/1"),
    )
    result = rack_import(text=corrected)
    assert result.updated == ["SRV0001", "SRV0002", "SRV0003"] and not result.created
    server.refresh_from_db()
    assert server.position_u == 10 and list(RackUnit.objects.filter(server=server).values_list("u", flat=True)) == [10]
    nics = dict(NetworkInterface.objects.filter(server=server).values_list("name", "mac"))
    assert nics == {"eth0": "0c:c4:7a:01:00:02", "eth1": "0c:c4:7a:00:00:02"}
    assert BMC.objects.get(server=server).password == "new-pw"
    assert str(Cable.objects.get(interface__server__serial="SRV0001", interface__name="eth0").port) == "tx1-a01-sw1/xe-0/0/3"
    assert str(Cable.objects.get(interface__server__serial="SRV0003", interface__name="eth0").port) == "tx1-a01-sw1/xe-0/0/1"
    event = AuditEvent.objects.filter(action="hardware.server.import").order_by("-id").first()
    assert event.changes["updated"]["SRV0002"]["position_u"] == ["2", "10"]
    assert event.changes["updated"]["SRV0002"]["bmc.password"] == ["<secret changed>", "<secret changed>"]
    assert "new-pw" not in str(event.changes)
    assert rack_import(text=corrected).unchanged == ["SRV0001", "SRV0002", "SRV0003"]


def test_a_mac_or_port_held_outside_the_file_is_refused(site):
    rack_import(text=csv_text(line(1)))
    with pytest.raises(ImportRejected) as exc:
        rack_import(text=csv_text(line(2, mac0="0c:c4:7a:00:00:01", port1="xe-0/0/1")))
    message = str(exc.value)
    assert "line 2, column nic1_mac: MAC 0c:c4:7a:00:00:01 belongs to SRV0001 eth0 in the records" in message
    assert "line 2, column nic2_port: tx1-a01-sw2 xe-0/0/1 is cabled to SRV0001 eth1 in the records" in message


def test_query_count_does_not_grow_with_the_file(site):
    RackFactory(facility=site.facility, name="a02")
    def count(n: int, rack: str) -> int:
        text = csv_text(*(line(i, u=i - n + 1 if rack == "a02" else i, rack=rack) for i in range(n, 2 * n if rack == "a02" else n + n)))
        with CaptureQueriesContext(connection) as queries:
            rack_import(text=text)
        return len(queries.captured_queries)
    small = count(4, "a01")
    large = count(36, "a02")
    assert large <= small + 2, (small, large)


def test_dry_run_writes_nothing(site):
    result = rack_import(text=csv_text(line(1)), dry_run=True)
    assert result.dry_run and result.created == ["SRV0001"] and not Server.objects.exists()


def test_command_imports_and_reports_errors(site, tmp_path):
    good = tmp_path / "rack.csv"
    good.write_text(csv_text(line(1), line(2)))
    out = io.StringIO()
    call_command("import_rack", str(good), stdout=out)
    assert "2 server(s) were created" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(line(3, plan="nope")))
    with pytest.raises(CommandError, match="line 2, column plan: There is no plan 'nope'"):
        call_command("import_rack", str(bad))


def test_the_example_csv_imports_into_the_demo():
    from apps.facilities import demo as facilities_demo
    from apps.hardware import demo as hardware_demo

    facilities_demo.seed(out=OutputWrapper(io.StringIO()), context={})
    hardware_demo.seed(out=OutputWrapper(io.StringIO()), context={})
    text = (Path(__file__).resolve().parents[2] / "docs" / "example-rack.csv").read_text()
    result = rack_import(text=text)
    assert len(result.created) == 6
    assert rack_import(text=text).unchanged == result.created
