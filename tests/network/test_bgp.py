"""Customer BGP from the model to the lab switch: a project's configuration (validated), a device's sessions,
the import filter built from the project's IPAM reservations (exact lengths), refreshed when a reservation
is added or released, and the MD5 password encrypted at rest and masked in every record."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.accounts.management.commands.rotate_keys import encrypted_columns
from apps.ipam import services as ipam
from apps.network import bgp
from apps.network.models import BgpConfig, BgpSession, ConfigPush, PortConfig
from tests.factories import UserFactory
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site
from tests.network.bgp_site import DeviceRef_for

pytestmark = pytest.mark.django_db

GROUP = "set protocols bgp group metalyard-xe-0-0-10-v4"
POLICY = "set policy-options"


@pytest.fixture
def site(lab_switch, facility, pool4, private_pool, pool6, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.SWITCH_CONFIRM_MINUTES = 1
    return bgp_site.build(lab_switch, facility, UserFactory(email="net@example.com"), capture=django_capture_on_commit_callbacks)


def bgp_lines(lab_switch, family: int = 4) -> list[str]:
    name = f"metalyard-xe-0-0-10-v{family}"
    return [line for line in lab_switch.running_lines() if name in line]


@pytest.mark.parametrize(("asn", "deployment", "message"), [
    (0, "local", "out of range"), (4294967295, "local", "out of range"), (65535, "local", "reserved"), (23456, "global", "reserved"),
    (15169, "local", "private ASN"), (65001, "global", "public ASN"), (65530, "local", "switches' own"), ("x", "local", "whole number"),
])
def test_bad_asn_is_refused_and_nothing_is_written(site, asn, deployment, message):
    with pytest.raises(ValidationError) as refused:
        bgp.bgp_config_request(project=site.project, deployment_type=deployment, asn=asn)
    assert message in str(refused.value.message_dict["asn"])
    assert not BgpConfig.objects.exists()


@pytest.mark.parametrize("md5", ["short1A", "nouppercase123", "NOLOWER12345", "NoDigitsHere", "has-punct1A", "x1A" * 7])
def test_md5_password_must_follow_the_real_service_rule(site, md5):
    with pytest.raises(ValidationError) as refused:
        bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000, md5=md5)
    assert "md5" in refused.value.message_dict
    assert not BgpConfig.objects.exists()


def test_session_needs_bgp_enabled_and_one_per_family(site, django_capture_on_commit_callbacks):
    ref = DeviceRef_for(site.device)
    with pytest.raises(ValidationError, match="has no BGP"):
        bgp.bgp_session_create(device=ref, address_family="ipv4")
    bgp.bgp_config_request(project=site.project, deployment_type="global", asn=15169)
    with pytest.raises(ValidationError, match="staff review"):
        bgp.bgp_session_create(device=ref, address_family="ipv4")
    bgp.bgp_config_enable(config=BgpConfig.objects.get(), reason="reviewed")
    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_session_create(device=ref, address_family="ipv4")
    with pytest.raises(ValidationError, match="already has an ipv4"):
        bgp.bgp_session_create(device=ref, address_family="ipv4")
    assert BgpSession.objects.count() == 1


def test_session_renders_group_and_exact_filter_from_ipam_and_follows_reservations(site, pool4, django_capture_on_commit_callbacks):  # noqa: F811
    bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000)
    with django_capture_on_commit_callbacks(execute=True):
        session = bgp.bgp_session_create(device=DeviceRef_for(site.device), address_family="ipv4")
    config = PortConfig.objects.get(port__name="xe-0/0/10")
    assert config.applied_version == config.desired_version
    # Local BGP: the session runs over the private /31 (device 10.11.0.1, switch 10.11.0.0); the device may announce its own links.
    lines = bgp_lines(site.lab_switch)
    assert f"{GROUP} neighbor 10.11.0.1" in lines
    assert f"{GROUP} peer-as 65000" in lines and f"{GROUP} local-as 65530" in lines
    assert f"{POLICY} prefix-list metalyard-xe-0-0-10-v4 147.75.0.0/31" in lines
    assert f"{POLICY} prefix-list metalyard-xe-0-0-10-v4 10.11.0.0/31" in lines
    assert f"{POLICY} policy-statement metalyard-xe-0-0-10-v4-in term project from prefix-list-filter metalyard-xe-0-0-10-v4 exact" in lines
    assert f"{POLICY} policy-statement metalyard-xe-0-0-10-v4-in then reject" in lines

    with django_capture_on_commit_callbacks(execute=True):
        reservation = ipam.reservation_create(project=site.project, prefix_length=30, pool=pool4)
    assert f"{POLICY} prefix-list metalyard-xe-0-0-10-v4 {reservation.network}" in bgp_lines(site.lab_switch)
    push = ConfigPush.objects.order_by("-pk").first()
    assert push.outcome == "committed" and "the project's IP reservations changed" in push.reason
    assert f"+   {reservation.network};" in push.diff

    with django_capture_on_commit_callbacks(execute=True):
        ipam.block_release(block=reservation, reason="given back")
    assert f"{POLICY} prefix-list metalyard-xe-0-0-10-v4 {reservation.network}" not in bgp_lines(site.lab_switch)

    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_session_delete(session=session)
    assert bgp_lines(site.lab_switch) == []
    # The interface itself is untouched by BGP coming and going.
    assert "set interfaces xe-0/0/10 unit 0 family inet address 10.11.0.0/31" in site.lab_switch.running_lines()


def test_md5_password_is_encrypted_at_rest_masked_in_records_and_rotated(site, django_capture_on_commit_callbacks):
    bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000, md5="Secret12345")
    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_session_create(device=DeviceRef_for(site.device), address_family="ipv6")
    assert "set protocols bgp group metalyard-xe-0-0-10-v6 authentication-key Secret12345" in site.lab_switch.running_lines()
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5 FROM network_bgpconfig")
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "Secret12345" not in stored
    push = ConfigPush.objects.order_by("-pk").first()
    for text in (push.config, push.diff, str(PortConfig.objects.get(port__name="xe-0/0/10").running),
                 str(PortConfig.objects.get(port__name="xe-0/0/10").bgp)):
        assert "Secret12345" not in text
    assert 'authentication-key "<secret>"' in push.config
    assert (BgpConfig, ["md5"]) in encrypted_columns()

    # A new password makes the port pending and reaches the switch; drift compares masked lines.
    change_before = PortConfig.objects.get(port__name="xe-0/0/10").desired_version
    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000, md5="Other12345x")
    assert PortConfig.objects.get(port__name="xe-0/0/10").desired_version == change_before + 1
    assert "set protocols bgp group metalyard-xe-0-0-10-v6 authentication-key Other12345x" in site.lab_switch.running_lines()
