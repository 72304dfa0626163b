"""Staff screens: a switch's pushes, diffs and drift with re-apply; a port's desired versus running."""
from __future__ import annotations

import pytest
from django.urls import reverse

from apps.network import services
from apps.network.models import ConfigPush, PortConfig, PortMode, PushOutcome
from tests.factories import UserFactory
from tests.hardware.factories import SwitchFactory, SwitchPortFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(lab_switch, settings):
    settings.SWITCH_CONFIRM_MINUTES = 1
    return SwitchFactory(hostname=lab_switch.hostname, mgmt_host="127.0.0.1", mgmt_port=lab_switch.port, username=lab_switch.username,
                         password=lab_switch.password, host_key_fingerprint=lab_switch.fingerprint)


@pytest.fixture
def pushed(switch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        config, _ = services.port_config_set(port=SwitchPortFactory(switch=switch, name="xe-0/0/4"), mode=PortMode.PROVISIONED,
                                             description="metalyard S4 eth0", mtu=9216, addresses=["147.75.4.0/31"])
    return config


def test_switch_page_shows_pushes_diff_and_drift(client, staff_user, switch, lab_switch, pushed):
    lab_switch.edit_by_hand("set interfaces xe-0/0/4 disable")
    services.switch_drift_check(switch_id=switch.pk)
    client.force_login(staff_user)

    listing = client.get(reverse("admin:network_managedswitch_changelist"))
    page = client.get(reverse("admin:network_managedswitch_change", args=[switch.pk]))

    assert listing.status_code == 200 and switch.hostname in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200
    assert "Re-apply desired state" in html, html[html.find("content-main"):html.find("content-main")+1500]
    assert "Open drift" in html
    assert "unexpected &#x27;set interfaces xe-0/0/4 disable&#x27;" in html
    assert "address 147.75.4.0/31;" in html  # the last committed diff
    push = ConfigPush.objects.get()
    assert client.get(reverse("admin:network_configpush_change", args=[push.pk])).status_code == 200


def test_reapply_button_pushes_and_clears_drift(client, staff_user, switch, lab_switch, pushed, django_capture_on_commit_callbacks):
    lab_switch.edit_by_hand("set interfaces xe-0/0/4 disable")
    services.switch_drift_check(switch_id=switch.pk)
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:network_managedswitch_reapply", args=[switch.pk]))

    assert response.status_code == 302
    assert ConfigPush.objects.first().outcome == PushOutcome.COMMITTED
    assert "set interfaces xe-0/0/4 disable" not in lab_switch.running_lines()
    assert not switch.drifts.filter(resolved_at__isnull=True).exists()


def test_port_page_shows_desired_versus_running(client, staff_user, switch, lab_switch, pushed):
    lab_switch.edit_by_hand("set interfaces xe-0/0/4 mtu 1500")
    services.switch_drift_check(switch_id=switch.pk)
    client.force_login(staff_user)

    html = client.get(reverse("admin:network_portconfig_change", args=[pushed.pk])).content.decode()

    assert "Desired versus running" in html and "DIFFERENT" in html
    assert "set interfaces xe-0/0/4 mtu 9216" in html and "set interfaces xe-0/0/4 mtu 1500" in html


def test_staff_without_network_permission_cannot_reapply(client, switch, pushed, django_capture_on_commit_callbacks):
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:network_managedswitch_reapply", args=[switch.pk]))
    assert ConfigPush.objects.count() == 1
    assert PortConfig.objects.get().applied_version == PortConfig.objects.get().desired_version
