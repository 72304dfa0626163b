"""Demo hardware: 3 plans, 2 top-of-rack switches per rack, 20 servers per rack (240 in all) with two
NICs each, every NIC cabled to its switch, and a BMC per server (mostly IPMI, some Redfish).

BMCs point at 127.0.0.1 port 0: a placeholder that `manage.py lab` replaces with the ports of
its emulated BMCs when it starts. Rows are bulk-inserted (the layout is computed here, so it is
valid by construction; the database constraints still check every row) and seeding is idempotent:
only what is missing is added.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count

from apps.audit.services import audit_record
from apps.facilities.models import Facility, Rack
from apps.hardware.models import (
    BMC,
    BMCProtocol,
    Cable,
    NetworkInterface,
    Plan,
    Server,
    ServerState,
    Switch,
    SwitchPort,
    sync_rack_units,
)

BMC_USERNAME = "admin"
BMC_PASSWORD = "secret"  # noqa: S105 - the lab's documented demo credential
SWITCH_USERNAME = "netconf"
SWITCH_PASSWORD = "secret"  # noqa: S105 - the lab's documented demo credential
PORTS_PER_SWITCH = 48

PLANS = [
    dict(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", cpu_count=1, cpu_cores=24, ram_gb=64,
         disks=[{"count": 2, "size_gb": 480, "type": "ssd"}], nic_count=2, nic_speed_gbps=10, price_hourly=Decimal("0.5000"), height_u=1),
    dict(slug="m3.large.x86", name="m3.large.x86", cpu_model="AMD EPYC 7502P", cpu_count=1, cpu_cores=32, ram_gb=256,
         disks=[{"count": 2, "size_gb": 3840, "type": "nvme"}], nic_count=2, nic_speed_gbps=25, price_hourly=Decimal("2.0000"), height_u=1),
    dict(slug="s3.xlarge.x86", name="s3.xlarge.x86", cpu_model="Intel Xeon Silver 4214", cpu_count=2, cpu_cores=12, ram_gb=192,
         disks=[{"count": 12, "size_gb": 8000, "type": "hdd"}, {"count": 2, "size_gb": 960, "type": "ssd"}], nic_count=2,
         nic_speed_gbps=25, price_hourly=Decimal("2.8000"), height_u=2),
]
# Per rack, bottom to top: 10 small, 6 large, 4 storage servers (28 U); the switches sit in U41 and U42.
RACK_LAYOUT = ["c3.small.x86"] * 10 + ["m3.large.x86"] * 6 + ["s3.xlarge.x86"] * 4
SWITCH_U = (41, 42)


def demo_state(index: int) -> str:
    """A few servers outside the pool so that the elevations show more than one colour."""
    if index % 40 == 39:
        return ServerState.NEW
    if index % 60 == 17:
        return ServerState.MAINTENANCE
    if index % 120 == 100:
        return ServerState.FAILED
    return ServerState.READY


def demo_mac(rack_index: int, slot: int, nic: int) -> str:
    return f"0c:c4:7a:{rack_index:02x}:{slot:02x}:{nic:02x}"


def _plans() -> dict[str, Plan]:
    plans = {p.slug: p for p in Plan.objects.all()}
    facilities = list(Facility.objects.all())
    for spec in PLANS:
        if spec["slug"] not in plans:
            plan = Plan(**spec)
            plan.full_clean()
            plan.save()
            plan.facilities.set(facilities)
            plans[plan.slug] = plan
    return plans


def seed(*, out: Any, context: dict[str, Any]) -> str:
    plans = _plans()
    racks = list(Rack.objects.select_related("facility").order_by("facility__code", "name"))
    existing_switches = {s.hostname: s for s in Switch.objects.all()}
    existing_serials = set(Server.objects.values_list("serial", flat=True))

    new_switches: list[Switch] = []
    new_servers: list[Server] = []
    for rack_index, rack in enumerate(racks):
        for number, u in enumerate(SWITCH_U, start=1):
            hostname = f"{rack.facility.code}-{rack.name}-sw{number}"
            if hostname not in existing_switches:
                new_switches.append(Switch(hostname=hostname, facility=rack.facility, rack=rack, position_u=u, model="qfx5120-48y",
                                           mgmt_host="127.0.0.1", mgmt_port=0, username=SWITCH_USERNAME, password=SWITCH_PASSWORD))
        u = 1
        for slot, slug in enumerate(RACK_LAYOUT):
            plan = plans[slug]
            serial = f"{rack.facility.code.upper()}-{rack.name.upper()}-{slot + 1:02d}"
            if serial not in existing_serials:
                new_servers.append(Server(serial=serial, asset_tag=f"MY{rack_index:02d}{slot:02d}", plan=plan, facility=rack.facility,
                                          rack=rack, position_u=u, height_u=plan.height_u,
                                          state=demo_state(rack_index * len(RACK_LAYOUT) + slot)))
            u += plan.height_u

    Switch.objects.bulk_create(new_switches)
    sync_rack_units(new_switches)
    SwitchPort.objects.bulk_create([SwitchPort(switch=s, name=f"xe-0/0/{p}") for s in new_switches for p in range(PORTS_PER_SWITCH)])
    if new_switches:
        out.write(f" {len(new_switches)} switches …", ending="")
    Server.objects.bulk_create(new_servers)
    sync_rack_units(new_servers)

    ports = {(hostname, name): pk for pk, hostname, name in SwitchPort.objects.values_list("pk", "switch__hostname", "name")}
    rack_index_of = {rack.pk: i for i, rack in enumerate(racks)}
    nics: list[NetworkInterface] = []
    bmcs: list[BMC] = []
    wiring: list[tuple[NetworkInterface, int]] = []
    for server_number, server in enumerate(new_servers):
        rack_index = rack_index_of[server.rack_id]
        slot = int(server.serial.rsplit("-", 1)[1]) - 1
        for nic in range(2):
            interface = NetworkInterface(server=server, name=f"eth{nic}", mac=demo_mac(rack_index, slot, nic),
                                         speed_mbps=server.plan.nic_speed_gbps * 1000)
            nics.append(interface)
            wiring.append((interface, ports[(f"{server.facility.code}-{server.rack.name}-sw{nic + 1}", f"xe-0/0/{slot}")]))
        protocol = BMCProtocol.REDFISH if server_number % 6 == 5 else BMCProtocol.IPMI
        bmcs.append(BMC(server=server, protocol=protocol, host="127.0.0.1", port=0, username=BMC_USERNAME, password=BMC_PASSWORD))
    NetworkInterface.objects.bulk_create(nics)
    BMC.objects.bulk_create(bmcs)
    Cable.objects.bulk_create([Cable(interface=nic, port_id=port_id) for nic, port_id in wiring])
    if new_servers or new_switches:
        audit_record(action="hardware.demo.seed", changes={"servers": [None, len(new_servers)], "switches": [None, len(new_switches)]})

    by_state = dict(Server.objects.values_list("state").annotate(n=Count("id")).order_by())
    states = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items()))
    return (f"{len(plans)} plans, {Switch.objects.count()} switches, {Server.objects.count()} servers ({states}), "
            f"{Cable.objects.count()} cables")
