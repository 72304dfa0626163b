"""Staff screens: the tree with utilisation bars, free space, address history, create and release."""
from __future__ import annotations

import pytest
from django.urls import reverse

from apps.ipam import services
from apps.ipam.models import Block, Kind


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_tree_shows_roots_with_bars_and_children(staff_client, pool4, supernet6):
    services.block_allocate(parent=pool4, prefix_length=25)
    page = staff_client.get(reverse("admin:ipam_block_changelist")).content.decode()
    assert "147.75.0.0/16" in page and "2604:1380::/32" in page and "147.75.0.0/24" not in page  # roots only
    assert "background:#8fb8de" in page and "0.4%" in page  # the /24 pool is 0.4 % of the /16
    children = staff_client.get(reverse("admin:ipam_block_changelist"), {"parent__id__exact": pool4.pk}).content.decode()
    assert "147.75.0.0/25" in children and "50.0%" not in children  # an assignment has no bar
    pools = staff_client.get(reverse("admin:ipam_block_changelist"), {"parent__id__exact": pool4.parent_id}).content.decode()
    assert "50.0%" in pools  # the pool is half allocated


def test_free_space_view(staff_client, pool4):
    services.block_create(network="147.75.0.0/26", kind=Kind.ASSIGNMENT, parent=pool4)
    page = staff_client.get(reverse("admin:ipam_block_free", args=[pool4.pk])).content.decode()
    assert "147.75.0.64/26" in page and "147.75.0.128/25" in page and "147.75.0.0/26" not in page.split("Free space as")[1]


def test_history_view_answers_who_held(staff_client, pool4):
    block = services.block_allocate(parent=pool4, prefix_length=31, device_label="abuse-me")
    Block.objects.filter(pk=block.pk).update(assigned_at="2026-03-01T00:00:00Z")
    url = reverse("admin:ipam_block_history")
    page = staff_client.get(url, {"address": "147.75.0.1", "at": "2026-03-04 12:00"}).content.decode()
    assert "device <strong>abuse-me</strong>" in page
    before = staff_client.get(url, {"address": "147.75.0.1", "at": "2026-02-01 12:00"}).content.decode()
    assert "Nobody held 147.75.0.1 at that moment" in before
    bad = staff_client.get(url, {"address": "nonsense"}, follow=True).content.decode()
    assert "is not an IPv4 or IPv6 address" in bad


def test_add_pool_through_the_service_and_refusal_message(staff_client, supernet4, facility):
    url = reverse("admin:ipam_block_add")
    form = {"network": "147.75.8.0/24", "kind": "pool", "parent": supernet4.pk, "facility": facility.pk, "metro": "", "public": "unknown",
            "description": ""}
    assert staff_client.post(url, form).status_code == 302
    assert Block.objects.get(network="147.75.8.0/24").facility == facility
    again = staff_client.post(url, {**form, "network": "147.75.8.0/25"}, follow=True).content.decode()
    assert "The block was not created: 147.75.8.0/25 overlaps the facility pool 147.75.8.0/24 in facility da11." in again


def test_release_action(staff_client, pool4):
    block = services.block_allocate(parent=pool4, prefix_length=31)
    staff_client.post(reverse("admin:ipam_block_changelist") + f"?parent__id__exact={pool4.pk}",
                      {"action": "release_selected", "_selected_action": [block.pk]})
    assert Block.objects.get(pk=block.pk).released_at is not None
    assert staff_client.get(reverse("admin:ipam_assignment_changelist")).status_code == 200
