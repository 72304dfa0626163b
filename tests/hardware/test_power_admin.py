"""Staff power controls in the admin: actions queue power work (run inline in tests), "read now"
reads the BMCs at once, and the events show on the server's page."""
from __future__ import annotations

import pytest
from django.urls import reverse

from apps.hardware.power_models import PowerEvent
from tests.hardware.factories import BMCFactory
from tests.lab.bmc_fixtures import PASSWORD, USERNAME, ipmi_lab  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


def test_admin_power_actions_go_over_ipmi(client, staff_user, ipmi_lab, django_capture_on_commit_callbacks):  # noqa: F811
    port = ipmi_lab.add(name="admin-1", username=USERNAME, password=PASSWORD)
    bmc = BMCFactory(host="127.0.0.1", port=port, username=USERNAME, password=PASSWORD)
    unusable = BMCFactory(port=0)
    client.force_login(staff_user)
    url = reverse("admin:hardware_server_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "boot_network", "_selected_action": [str(bmc.server_id)]}, follow=True)
    assert response.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "power_on", "_selected_action": [str(bmc.server_id), str(unusable.server_id)]},
                               follow=True)
    text = response.content.decode()
    assert "requested for 1 server(s)" in text and "start the lab" in text
    assert ipmi_lab.state(port)["power"] == "on"
    assert list(PowerEvent.objects.filter(server=bmc.server).order_by("created_at").values_list("action", "outcome", "source")) == [
        ("boot_network", "ok", "admin"), ("on", "ok", "admin")]
    assert ipmi_lab.events[-1]["bootdev"] == "network"

    ipmi_lab.set_state(port, power="off")  # someone pressed the button in the data centre
    # The read runs on the facility's worker (inline here), not in the admin's request.
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(url, {"action": "read_power_now", "_selected_action": [str(bmc.server_id)]}, follow=True)
    assert len(queued) == 1
    assert "Power-state read queued for 1 server(s)" in response.content.decode()
    bmc.refresh_from_db()
    assert bmc.power_state == "off"
    assert PowerEvent.objects.filter(server=bmc.server, action="sync", outcome="drift", source="admin").exists()

    page = client.get(reverse("admin:hardware_server_change", args=[bmc.server_id]))
    assert page.status_code == 200 and "recent power events" in page.content.decode().lower()
    assert client.get(reverse("admin:hardware_powerevent_changelist")).status_code == 200
