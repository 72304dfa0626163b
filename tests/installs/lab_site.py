"""A whole lab site for workflow tests: IP pools, a lab Junos switch, lab IPMI BMCs and servers cabled
to the switch, with the platform's provisioning listener served live for the emulated machines to call. Every process
and thread started here is stopped at teardown."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apps.lab import machines
from tests.installs.factories import IMAGE, provisioning_address

BMC_USER, BMC_PASSWORD = "admin", "lab-secret"
SWITCH_USER, SWITCH_PASSWORD = "metalyard", "lab-secret"


@dataclass
class Site:
    facility: Any
    plan: Any
    os: Any
    switch: Any
    lab_switch: Any
    ipmi: Any
    servers: list = field(default_factory=list)
    bmc_ports: dict = field(default_factory=dict)

    def add_server(self, index: int, *, mac: str | None = None, inventory: bool = True) -> Any:
        """A lab server cabled to port `index`; with `inventory`, already commissioned (its report known)."""
        from apps.hardware.models import BMC
        from tests.hardware.factories import CableFactory, NetworkInterfaceFactory, ServerFactory, SwitchPortFactory

        server = ServerFactory(facility=self.facility, plan=self.plan)
        nic = NetworkInterfaceFactory(server=server, name="eth0", **({"mac": mac} if mac else {}))
        CableFactory(interface=nic, port=SwitchPortFactory(switch=self.switch, name=f"xe-0/0/{index}"))
        port = self.ipmi.add(name=f"bmc-{server.serial}", username=BMC_USER, password=BMC_PASSWORD, server_id=str(server.pk), power="off",
                             system_serial=server.serial)
        BMC.objects.create(server=server, protocol="ipmi", host="127.0.0.1", port=port, username=BMC_USER, password=BMC_PASSWORD)
        self.bmc_ports[server.pk] = port
        self.servers.append(server)
        provisioning_address(server)  # its machine calls from its NIC's reservation (a loopback address)
        if inventory:
            machines.lab_inventory_reports()  # the disks its wipe must attest
        return server


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def write_image(directory: Path, data: bytes = IMAGE, name: str = "test.img") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class ProvisioningServer:
    """The provisioning listener, served from threads of the test process (as pytest-django's live_server
    serves the public site), on `host` and a free port — or on a socket made elsewhere (a network
    namespace's, see tests/installs/netns.py)."""

    def __init__(self, host: str = "127.0.0.1", sock: Any = None) -> None:
        import threading

        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        from project.listeners import ProvisioningListener

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        if sock is None:
            self.httpd = ThreadedWSGIServer((host, 0), QuietHandler, allow_reuse_address=False)
        else:
            self.httpd = ThreadedWSGIServer(sock.getsockname()[:2], QuietHandler, bind_and_activate=False)
            self.httpd.socket.close()
            self.httpd.socket = sock
            self.httpd.server_address = sock.getsockname()[:2]
            self.httpd.server_name, self.httpd.server_port = self.httpd.server_address
            self.httpd.setup_environ()
            sock.listen(64)
        self.httpd.daemon_threads = True
        self.httpd.set_app(ProvisioningListener(WSGIHandler()))
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def provisioning_server(transactional_db) -> Iterator[ProvisioningServer]:
    server = ProvisioningServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab_site(transactional_db, provisioning_server, settings, tmp_path) -> Iterator[Site]:
    # The BMC power service, the switch automation and their lab emulators are other apps' work.
    for module in ("apps.hardware.power", "apps.network.services", "apps.lab.bmc", "apps.lab.junos"):
        pytest.importorskip(module, reason=f"{module} is not on this branch yet")
    from apps.ipam import services as ipam
    from apps.ipam.models import Kind
    from apps.lab.bmc import IpmiLabProcess
    from apps.lab.junos import JunosLab
    from tests.hardware.factories import FacilityFactory, PlanFactory, SwitchFactory
    from tests.installs.factories import OperatingSystemFactory

    settings.LAB_PLATFORM_URL = provisioning_server.url
    settings.LAB_MACHINE_DELAY_SCALE = 0
    settings.NETBOOT_ASSETS_DIR = tmp_path / "assets"
    settings.BMC_ATTEMPTS = 2
    settings.BMC_BACKOFF = 0.1
    settings.BMC_TIMEOUT = 3.0
    write_image(settings.NETBOOT_ASSETS_DIR)

    junos = JunosLab(minute_seconds=2.0).start()
    ipmi = None
    machines.emulate(True)
    try:
        ipmi = IpmiLabProcess()
        lab_switch = junos.add_switch(hostname="lab-sw1", username=SWITCH_USER, password=SWITCH_PASSWORD)
        facility = FacilityFactory()
        for network, supernet, public in (("147.75.0.0/24", "147.75.0.0/16", True), ("10.11.0.0/24", "10.0.0.0/8", False),
                                          ("2604:1380:1000::/48", "2604:1380::/32", True)):
            parent = ipam.block_create(network=supernet, kind=Kind.SUPERNET)
            ipam.block_create(network=network, kind=Kind.POOL, parent=parent, facility=facility, public=public)
        plan = PlanFactory(nic_count=1)  # the lab servers have one NIC, cabled
        switch = SwitchFactory(facility=facility, hostname="lab-sw1", mgmt_host="127.0.0.1", mgmt_port=lab_switch.port,
                               username=SWITCH_USER, password=SWITCH_PASSWORD, host_key_fingerprint=lab_switch.fingerprint)
        site = Site(facility=facility, plan=plan, os=OperatingSystemFactory(plans=[plan]), switch=switch, lab_switch=lab_switch, ipmi=ipmi)
        for index in range(2):
            site.add_server(index)
        yield site
    finally:
        machines.emulate(False)
        machines.stop_all()
        if ipmi is not None:
            ipmi.stop()
        junos.stop()
