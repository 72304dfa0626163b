"""The lab's "bmc" group as `manage.py lab` runs it: emulated BMCs for the BMC records on loopback,
their ports (and Redfish fingerprints) recorded, power actions going over the real protocols, and
"power on with boot device network" reaching the machines hook."""
from __future__ import annotations

import io

import pytest
from django.core.management.base import OutputWrapper

from apps.hardware import power
from apps.hardware.models import BMC, BMCProtocol
from apps.lab import machines
from apps.lab.groups import bmc as bmc_group
from tests.facilities.factories import FacilityFactory
from tests.hardware.factories import BMCFactory, PlanFactory, ServerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(180)]


def test_lab_group_serves_the_records_and_calls_the_machines_hook(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    facility, plan = FacilityFactory(), PlanFactory()
    records = [
        BMCFactory(server=ServerFactory(facility=facility, plan=plan), protocol=protocol, host="127.0.0.1", port=0,
                   username="admin", password="secret")
        for protocol in (BMCProtocol.IPMI, BMCProtocol.IPMI, BMCProtocol.REDFISH)
    ]
    remote = BMCFactory(server=ServerFactory(facility=facility, plan=plan), host="10.9.8.7", port=623)
    seen: list[tuple[str | None, str]] = []
    hook = machines.register_power_on(lambda server_id, bootdev: seen.append((server_id, bootdev)))
    out = io.StringIO()
    handle = bmc_group.start(OutputWrapper(out))
    try:
        assert "2 IPMI BMCs" in out.getvalue() and "1 Redfish BMCs" in out.getvalue()
        for record in records:
            record.refresh_from_db()
            assert record.port > 0
        redfish = records[2]
        assert redfish.cert_fingerprint == handle.redfish.emulators[redfish.port].fingerprint
        remote.refresh_from_db()
        assert remote.port == 623  # not the lab's

        ipmi_server = records[0].server
        assert power.server_power(server=ipmi_server, action="boot_network", source="test").outcome == "ok"
        assert power.server_power(server=ipmi_server, action="on", source="test").outcome == "ok"
        assert (str(ipmi_server.pk), "network") in seen
        assert handle.ipmi.state(records[0].port)["power"] == "on"

        assert power.server_power(server=redfish.server, action="on", source="test").outcome == "ok"
        assert any(server_id == str(redfish.server_id) for server_id, _ in seen)
    finally:
        machines.unregister_power_on(hook)
        bmc_group.stop(handle)
    assert handle.ipmi.process.poll() is not None
    assert not handle.redfish.emulators
    assert set(BMC.objects.filter(pk__in=[r.pk for r in records]).values_list("port", flat=True)) == {0}
