"""The admin's device buttons do no device I/O in the web process: "Read power state now" and
"Check drift now" are queued on the facility's cluster, like every other device action (a facility's
BMC and switch networks are reachable only from inside it)."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import OrmQ

from apps.hardware.power_models import PowerEvent
from apps.network.models import PortDrift
from tests.hardware.factories import BMCFactory, FacilityFactory, ServerFactory, SwitchFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def facility_cluster(settings, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # tasks go to the ORM broker, where they can be read back
    OrmQ.objects.all().delete()
    facility = FacilityFactory(code="io1")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "ALT_CLUSTERS": {facility.code: {}}}
    return facility


def _staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_read_power_now_is_queued_on_the_facility_cluster(facility_cluster, staff_user, django_capture_on_commit_callbacks):
    server = ServerFactory(facility=facility_cluster)
    BMCFactory(server=server, host="192.0.2.1", port=623)  # unreachable from here: a read in the request would hang
    with django_capture_on_commit_callbacks(execute=True):
        page = _staff(staff_user).post(reverse("admin:hardware_server_changelist"),
                                       {"action": "read_power_now", "_selected_action": [str(server.pk)]}, follow=True)
    assert "queued for 1 server(s) on the workers of io1" in page.content.decode()
    assert OrmQ.objects.filter(key=facility_cluster.code).count() == 1
    assert not PowerEvent.objects.exists()  # nothing was asked of the BMC from the web process


def test_check_drift_is_queued_on_the_facility_cluster(facility_cluster, staff_user, django_capture_on_commit_callbacks):
    switch = SwitchFactory(facility=facility_cluster, mgmt_host="192.0.2.2")
    with django_capture_on_commit_callbacks(execute=True):
        page = _staff(staff_user).post(reverse("admin:network_managedswitch_changelist"),
                                       {"action": "check_drift", "_selected_action": [str(switch.pk)]}, follow=True)
    assert "Drift check queued for 1 switch(es)" in page.content.decode()
    assert OrmQ.objects.filter(key=facility_cluster.code).count() == 1
    assert not PortDrift.objects.exists()
