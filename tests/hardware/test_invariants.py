"""Every inventory invariant is refused with a clear message, by clean() and by the database."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.hardware import services
from apps.hardware.models import BMC, Cable, NetworkInterface, RackUnit, Server, SwitchPort
from tests.facilities.factories import FacilityFactory, RackFactory
from tests.hardware.factories import (
    NetworkInterfaceFactory,
    PlanFactory,
    ServerFactory,
    SwitchFactory,
    SwitchPortFactory,
)

pytestmark = pytest.mark.django_db


def messages(exc: ValidationError) -> str:
    return " ".join(m for ms in exc.message_dict.values() for m in ms) if hasattr(exc, "error_dict") else " ".join(exc.messages)


# ------------------------------------------------------------------ U space


def test_two_servers_cannot_share_a_unit():
    rack = RackFactory()
    ServerFactory(rack=rack, position_u=10, height_u=2, serial="A1")
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="B1", plan=PlanFactory(), facility=rack.facility, rack=rack, position_u=11)
    assert "U11" in messages(exc.value) and "server A1" in messages(exc.value)
    assert not Server.objects.filter(serial="B1").exists()


def test_a_server_cannot_overlap_a_switch():
    rack = RackFactory()
    SwitchFactory(rack=rack, position_u=42, hostname="tor1")
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="B2", plan=PlanFactory(height_u=2), facility=rack.facility, rack=rack, position_u=41)
    assert "U42" in messages(exc.value) and "switch tor1" in messages(exc.value)


def test_the_database_refuses_overlap_even_without_clean():
    # A writer that skips clean() (a bulk job, a race) still hits RackUnit's unique constraint.
    rack = RackFactory()
    ServerFactory(rack=rack, position_u=5, serial="C1")
    server = ServerFactory.build(rack=rack, facility=rack.facility, position_u=5, serial="C2", plan=PlanFactory())
    with pytest.raises(ValidationError) as exc:
        server.save()
    assert "already occupies" in messages(exc.value)
    assert not Server.objects.filter(serial="C2").exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        RackUnit.objects.create(rack=rack, u=5, switch=SwitchFactory())


def test_moving_a_server_frees_its_old_units():
    rack = RackFactory()
    server = ServerFactory(rack=rack, position_u=1, height_u=2)
    assert sorted(RackUnit.objects.filter(server=server).values_list("u", flat=True)) == [1, 2]
    services.server_update(server=server, position_u=20)
    assert sorted(RackUnit.objects.filter(server=server).values_list("u", flat=True)) == [20, 21]
    services.server_create(serial="D2", plan=PlanFactory(), facility=rack.facility, rack=rack, position_u=1)
    services.server_update(server=server, rack=None, position_u=None)
    assert not RackUnit.objects.filter(server=server).exists()


def test_a_server_updating_itself_in_place_does_not_clash_with_itself():
    rack = RackFactory()
    server = ServerFactory(rack=rack, position_u=3, height_u=2)
    services.server_update(server=server, height_u=3)
    assert sorted(RackUnit.objects.filter(server=server).values_list("u", flat=True)) == [3, 4, 5]


def test_nothing_below_u1():
    rack = RackFactory()
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="E1", plan=PlanFactory(), facility=rack.facility, rack=rack, position_u=0)
    assert "start at U1" in messages(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        Server.objects.filter(pk=ServerFactory(rack=rack, position_u=1).pk).update(position_u=0)


def test_nothing_above_the_top_of_the_rack():
    rack = RackFactory(height_u=42)
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="F1", plan=PlanFactory(height_u=2), facility=rack.facility, rack=rack, position_u=42)
    assert "reaches U43, above the top of rack" in messages(exc.value)
    with pytest.raises(ValidationError):
        SwitchFactory(rack=rack, position_u=43)


def test_a_servers_rack_is_in_its_facility():
    rack = RackFactory()
    other = FacilityFactory()
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="G1", plan=PlanFactory(), facility=other, rack=rack, position_u=1)
    assert f"Rack {rack} is in facility {rack.facility.code}" in messages(exc.value)


def test_a_position_needs_a_rack():
    with pytest.raises(ValidationError) as exc:
        services.server_create(serial="H1", plan=PlanFactory(), facility=FacilityFactory(), position_u=4)
    assert "needs a rack" in messages(exc.value)


# ------------------------------------------------------------------ MACs, ports, cables


def test_mac_is_normalized_and_unique_whatever_the_spelling():
    nic = NetworkInterfaceFactory(mac="0C-C4-7A-AA-BB-01")
    assert NetworkInterface.objects.get(pk=nic.pk).mac == "0c:c4:7a:aa:bb:01"
    assert NetworkInterface.objects.filter(mac="0cc4.7aaa.bb01").get() == nic
    with pytest.raises(ValidationError) as exc:
        services.interface_create(server=ServerFactory(), name="eth0", mac="0cc47aaabb01")
    assert "already on another NIC" in messages(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        NetworkInterface.objects.create(server=ServerFactory(), name="eth0", mac="0c:c4:7a:aa:bb:01")


def test_a_bad_mac_is_refused():
    with pytest.raises(ValidationError) as exc:
        services.interface_create(server=ServerFactory(), name="eth0", mac="0c:c4:7a:zz")
    assert "is not a MAC address" in messages(exc.value)


def test_port_names_are_unique_per_switch():
    port = SwitchPortFactory(name="xe-0/0/1")
    SwitchPortFactory(name="xe-0/0/1")  # another switch: fine
    with pytest.raises(ValidationError) as exc:
        services.switch_port_get_or_create(switch=port.switch, name="xe-0/0/1 ")
    assert "no spaces" in messages(exc.value)
    assert services.switch_port_get_or_create(switch=port.switch, name="xe-0/0/1") == port
    with pytest.raises(IntegrityError), transaction.atomic():
        SwitchPort.objects.create(switch=port.switch, name="xe-0/0/1")


def test_a_port_is_cabled_once():
    nic1 = NetworkInterfaceFactory()
    nic2 = NetworkInterfaceFactory(server__facility=nic1.server.facility)
    port = SwitchPortFactory(switch__facility=nic1.server.facility)
    services.cable_connect(interface=nic1, port=port)
    with pytest.raises(ValidationError) as exc:
        services.cable_connect(interface=nic2, port=port)
    assert "switch port is already cabled" in messages(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        Cable.objects.create(interface=nic2, port=port)


def test_a_nic_is_cabled_once():
    nic = NetworkInterfaceFactory()
    port1 = SwitchPortFactory(switch__facility=nic.server.facility)
    port2 = SwitchPortFactory(switch__facility=nic.server.facility)
    services.cable_connect(interface=nic, port=port1)
    with pytest.raises(ValidationError) as exc:
        services.cable_connect(interface=nic, port=port2)
    assert "NIC is already cabled" in messages(exc.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        Cable.objects.create(interface=nic, port=port2)


def test_a_cable_does_not_cross_facilities():
    nic = NetworkInterfaceFactory()
    port = SwitchPortFactory(switch__facility=FacilityFactory())
    with pytest.raises(ValidationError) as exc:
        services.cable_connect(interface=nic, port=port)
    assert "cannot cross facilities" in messages(exc.value)


def test_bmc_password_is_encrypted_at_rest_and_one_bmc_per_server():
    server = ServerFactory()
    services.bmc_set(server=server, protocol="redfish", host="10.0.0.5", username="root", password="calvin")
    bmc = BMC.objects.get(server=server)
    assert bmc.password == "calvin" and bmc.port == 443
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM hardware_bmc WHERE id = %s", [bmc.pk])
        stored = cursor.fetchone()[0]
    assert "calvin" not in stored and stored.startswith("fernet:")
    services.bmc_set(server=server, protocol="ipmi", host="10.0.0.6", username="root", password="calvin2")
    assert BMC.objects.filter(server=server).count() == 1 and BMC.objects.get(server=server).port == 623
    with pytest.raises(IntegrityError), transaction.atomic():
        BMC.objects.create(server=server, host="x", username="u", password="p")


def test_bmc_fingerprint_must_be_sha256_hex():
    with pytest.raises(ValidationError) as exc:
        services.bmc_set(server=ServerFactory(), protocol="redfish", host="h", username="u", password="p", cert_fingerprint="abc")
    assert "64 lower-case hex digits" in messages(exc.value)


def test_switches_follow_the_same_rack_rules():
    rack = RackFactory()
    services.switch_create(hostname="tor-a", facility=rack.facility, rack=rack, position_u=42, mgmt_host="10.0.0.1", username="u",
                           password="p", ports=["xe-0/0/0", "xe-0/0/1"])
    with pytest.raises(ValidationError) as exc:
        services.switch_create(hostname="tor-b", facility=rack.facility, rack=rack, position_u=42, mgmt_host="10.0.0.2", username="u",
                               password="p")
    assert "U42" in messages(exc.value) and "switch tor-a" in messages(exc.value)
    with pytest.raises(ValidationError) as exc:
        services.switch_create(hostname="tor-c", facility=FacilityFactory(), rack=rack, position_u=40, mgmt_host="10.0.0.3", username="u",
                               password="p")
    assert "pick a rack of the same facility" in messages(exc.value)
    with pytest.raises(ValidationError) as exc:
        services.switch_create(hostname="tor-d", facility=rack.facility, mgmt_host="10.0.0.4", username="u", password="p",
                               ports=["xe-0/0/0", "xe-0/0/0"])
    assert "appears twice" in messages(exc.value)


def test_plan_disks_are_validated():
    from apps.hardware.models import Plan

    plan = Plan(slug="x1.small.x86", name="x", cpu_model="c", ram_gb=8, disks=[{"count": 2, "size_gb": 480}])
    with pytest.raises(ValidationError) as exc:
        plan.full_clean()
    assert "exactly the keys count, size_gb and type" in messages(exc.value)
