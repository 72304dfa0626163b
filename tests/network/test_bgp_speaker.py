"""A real BGP speaker proves the filters: the lab switch's routing side (BIRD 2, configured from the lab
switch's committed Junos configuration) in one network namespace, the customer's server (BIRD 2, configured
from the BGP neighbors API) in another, joined by a veth pair carrying the device's private /31.

The session comes up (`Established`, read from the switch's speaker) only with the project's MD5 password;
the project's /30 reservation is accepted, a block the project does not hold and a longer prefix inside the
reservation are rejected; after the reservation is released and pushed, the /30 is rejected too."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from apps.ipam import services as ipam
from apps.lab.bgp import Bird, bird_config_from_junos, customer_bird_config
from apps.network import bgp, tasks
from apps.network.api.serializers import bgp_session_out
from apps.network.bgp_plan import server_neighbors
from apps.network.models import BgpConfig, BgpSession
from tests.factories import UserFactory
from tests.installs import netns
from tests.ipam.conftest import facility, metro, pool4, pool6, private_pool, private_supernet, supernet4, supernet6  # noqa: F401
from tests.network import bgp_site
from tests.network.bgp_site import DeviceRef_for

why_not = netns.available() or (None if shutil.which("bird") and shutil.which("birdc") else "needs Debian's bird2 (bird, birdc)")
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(180), pytest.mark.skipif(why_not is not None, reason=why_not or "")]

PORT = "xe-0/0/10"
MD5 = "Secret12345"
NOT_HELD = "198.51.100.0/24"
SESSION = "metalyard_xe_0_0_10_v4_0"


def wait_for(read, done, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout} s")
        time.sleep(0.25)
        value = read()
    return value


@pytest.fixture
def wire(tmp_path):
    """Two namespaces (switch, server) and a veth pair between them; removed afterwards."""
    pid = os.getpid()
    switch_ns, server_ns = netns.Namespace(f"mlbgp-sw-{pid}"), netns.Namespace(f"mlbgp-srv-{pid}")
    speakers: list[Bird] = []
    try:
        switch_ns.create()
        server_ns.create()
        netns.ip("-n", switch_ns.name, "link", "add", "port", "type", "veth", "peer", "name", "eth0", "netns", server_ns.name)
        for ns, dev in ((switch_ns, "port"), (server_ns, "eth0")):
            netns.ip("-n", ns.name, "link", "set", dev, "up")
        yield switch_ns, server_ns, speakers, tmp_path
    finally:
        for speaker in speakers:
            speaker.stop()
        server_ns.delete()
        switch_ns.delete()


def test_real_speaker_accepts_only_what_the_project_holds(wire, lab_switch, facility, pool4, private_pool, pool6, settings,  # noqa: F811
                                                          django_capture_on_commit_callbacks):
    switch_ns, server_ns, speakers, workdir = wire
    settings.SWITCH_CONFIRM_MINUTES = 1
    site = bgp_site.build(lab_switch, facility, UserFactory(email="speaker@example.com"), capture=django_capture_on_commit_callbacks)
    bgp.bgp_config_request(project=site.project, deployment_type="local", asn=65000, md5=MD5)
    with django_capture_on_commit_callbacks(execute=True):
        bgp.bgp_session_create(device=DeviceRef_for(site.device), address_family="ipv4")
        reservation = ipam.reservation_create(project=site.project, prefix_length=30, pool=pool4)
    held = str(reservation.network)
    inside = held.replace("/30", "/31")  # a longer prefix inside the reservation: not the exact block, refused

    # The switch side: the port's addresses and the BGP speaker, both from what the switch committed.
    committed = lab_switch.running_lines()
    for line in committed:
        if line.startswith(f"set interfaces {PORT} unit 0 family inet address "):
            netns.ip("-n", switch_ns.name, "addr", "add", line.rsplit(" ", 1)[1], "dev", "port")
    switch_bird = Bird(netns=switch_ns.name, workdir=workdir, name="switch")
    speakers.append(switch_bird.start(bird_config_from_junos(committed, router_id="10.11.0.0")))

    # The customer's server: its address and BGP settings from the neighbors data the API serves.
    neighbor = server_neighbors(site.device.server, device_id=site.device.pk)[0]
    netns.ip("-n", server_ns.name, "addr", "add", f"{neighbor.customer_ip}/31", "dev", "eth0")
    settings_of = dict(router_id=neighbor.customer_ip, customer_ip=neighbor.customer_ip, customer_as=neighbor.customer_as,
                       peer_ip=neighbor.peer_ip, peer_as=neighbor.peer_as, announce=[held, inside, NOT_HELD])
    customer = Bird(netns=server_ns.name, workdir=workdir, name="customer")
    speakers.append(customer.start(customer_bird_config(**settings_of, md5="Wrong123456")))

    # The session's status is what the switch says of it, read through the driver as the facility's worker does.
    session = BgpSession.objects.get()
    assert bgp_session_out(session)["status"] == "unknown"
    lab_switch.bgp_neighbors = lambda: switch_bird.neighbor_states(lab_switch.running_lines())

    def status() -> tuple[str, int]:
        tasks.drift_check(site.switch.pk)
        fresh = BgpSession.objects.get(pk=session.pk)
        return bgp_session_out(fresh)["status"], fresh.accepted_prefixes

    # A wrong MD5 password: TCP segments are dropped, the session never comes up.
    time.sleep(6)
    assert switch_bird.bgp_state(SESSION) != "Established"
    assert status() == ("down", 0)
    customer.reconfigure(customer_bird_config(**settings_of, md5=MD5))
    customer.birdc("restart", "switch")
    wait_for(lambda: switch_bird.bgp_state(SESSION), lambda s: s == "Established", timeout=40, what="BGP session")

    accepted = wait_for(lambda: switch_bird.routes(SESSION), lambda r: held in r, timeout=20, what="accepted routes")
    assert accepted == [held]
    assert switch_bird.routes(SESSION, filtered=True) == sorted([inside, NOT_HELD])
    assert status() == ("up", 1)

    # Released and pushed: the committed filter no longer holds the block, so the speaker refuses it.
    with django_capture_on_commit_callbacks(execute=True):
        ipam.block_release(block=reservation, reason="customer gave it back")
    assert f"set policy-options prefix-list metalyard-xe-0-0-10-v4 {held}" not in lab_switch.running_lines()
    switch_bird.reconfigure(bird_config_from_junos(lab_switch.running_lines(), router_id="10.11.0.0"))
    wait_for(lambda: switch_bird.routes(SESSION), lambda r: r == [], timeout=20, what="accepted routes after the release")
    assert switch_bird.routes(SESSION, filtered=True) == sorted([held, inside, NOT_HELD])
    assert BgpConfig.objects.get().md5 == MD5
