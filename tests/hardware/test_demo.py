"""The demo provider's inventory: the promised counts, fully cabled, and idempotent."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.facilities.models import Facility, Metro, Rack
from apps.hardware.models import BMC, Cable, NetworkInterface, RackUnit, Server, ServerState, Switch

pytestmark = pytest.mark.django_db


def test_demo_inventory_is_complete_and_idempotent():
    call_command("demo", "--admin-password", "pw", stdout=io.StringIO())
    counts = (Metro.objects.count(), Facility.objects.count(), Rack.objects.count(), Switch.objects.count(), Server.objects.count(),
              NetworkInterface.objects.count(), Cable.objects.count(), BMC.objects.count(), RackUnit.objects.count())
    assert counts[:8] == (2, 3, 12, 24, 240, 480, 480, 240)
    assert set(Server.objects.values_list("plan__slug", flat=True)) == {"c3.small.x86", "m3.large.x86", "s3.xlarge.x86"}
    assert Server.objects.filter(state=ServerState.READY).count() > 200
    assert {"ipmi", "redfish"} == set(BMC.objects.values_list("protocol", flat=True))
    assert BMC.objects.get(server__serial="DA11-R01-01").password == "secret"
    # Every server's two NICs go to the two switches of its own rack.
    for cable in Cable.objects.select_related("interface__server__rack", "port__switch__rack")[:40]:
        assert cable.interface.server.rack_id == cable.port.switch.rack_id
    call_command("demo", "--admin-password", "pw", stdout=io.StringIO())
    again = (Metro.objects.count(), Facility.objects.count(), Rack.objects.count(), Switch.objects.count(), Server.objects.count(),
             NetworkInterface.objects.count(), Cable.objects.count(), BMC.objects.count(), RackUnit.objects.count())
    assert again == counts
