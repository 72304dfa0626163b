"""The customer's iPXE script URL is fetched by the platform, from where the platform's own networks are
reachable: a URL whose host is (or resolves to) loopback, link-local, a provisioning network, a BMC or a private
range is refused with a 422 at order time, and again at fetch time, where a name that now resolves elsewhere (DNS
rebinding) or a redirect inward is refused too; the fetch connects only to the address it checked."""
from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.accounts.models import Role
from apps.installs import outbound
from apps.installs.custom_ipxe import CustomIpxeError, script_fetch
from apps.installs.provisioning import provisioning_network_set
from tests.console.conftest import CUSTOMER_WEB_ADDRESS
from tests.factories import ProjectFactory, UserFactory
from tests.hardware.factories import BMCFactory
from tests.installs.conftest import pools, rack  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(rack, settings):  # noqa: F811
    project, user = ProjectFactory(), UserFactory()
    accounts.membership_set(user=user, organization=project.organization, role=Role.OWNER)
    _, token = accounts.api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_X_AUTH_TOKEN=token)
    provisioning_network_set(facility=rack["facility"], network="10.80.0.0/16")
    BMCFactory(server=rack["servers"][0], host="192.0.2.50")
    settings.BMC_NETWORKS = ["10.99.0.0/16"]

    def post(url: str) -> object:
        post.api = api
        return api.post(f"/metal/v1/projects/{project.pk}/devices", {
            "hostname": "byo", "plan": rack["plan"].slug, "facility": rack["facility"].code, "operating_system": "custom_ipxe",
            "ipxe_script_url": url}, format="json")
    return post


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:8080/boot.ipxe", "is a loopback address"),
    ("http://localhost/boot.ipxe", "localhost ("),  # named with the address it resolved to (127.0.0.1 or ::1)
    ("http://[::1]/boot.ipxe", "is a loopback address"),
    ("http://[::ffff:127.0.0.1]/boot.ipxe", "is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "is a link-local address"),
    ("http://10.1.2.3/boot.ipxe", "is a private or reserved address"),
    ("http://192.168.1.1/boot.ipxe", "is a private or reserved address"),
    ("http://100.64.0.7/boot.ipxe", "is a private or reserved address"),
    ("http://[fd00::7]/boot.ipxe", "is a private or reserved address"),
    ("http://0.0.0.0/boot.ipxe", "is not a unicast address"),
    ("http://10.80.3.4/boot.ipxe", "is on a provisioning network"),
    ("http://192.0.2.50:623/", "is on a BMC's address"),
    ("http://10.99.1.1/redfish/v1", "is on a BMC network"),
    ("http://user:secret@8.8.8.8/boot.ipxe", "user name or password"),
    ("http://no-such-host.invalid/boot.ipxe", "does not resolve"),
])
def test_an_order_whose_script_url_points_inward_is_refused_with_the_reason(order, url, why) -> None:
    answer = order(url)
    assert answer.status_code == 422, answer.content
    assert why in " ".join(answer.json()["fields"]["ipxe_script_url"]), answer.json()


def test_the_operator_can_allow_a_private_network_but_never_the_platforms_own(order, settings) -> None:
    settings.CUSTOM_IPXE_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert order("http://10.1.2.3/boot.ipxe").status_code == 201
    refused = order("http://10.80.3.4/boot.ipxe")  # inside the allowed range, but the provisioning network
    assert refused.status_code == 422 and "provisioning network" in refused.content.decode()
    assert order("http://8.8.8.8/boot.ipxe").status_code == 201  # a public address needs no allowance


def test_changing_the_script_url_of_a_device_is_checked_the_same_way(order) -> None:
    device = order("http://8.8.8.8/boot.ipxe").json()
    answer = order.api.put(f"/metal/v1/devices/{device['id']}", {"ipxe_script_url": "http://169.254.169.254/latest/"}, format="json")
    assert answer.status_code == 422 and "link-local" in " ".join(answer.json()["fields"]["ipxe_script_url"]), answer.content
    assert order.api.get(f"/metal/v1/devices/{device['id']}").json()["ipxe_script_url"] == "http://8.8.8.8/boot.ipxe"


@pytest.fixture
def dns(monkeypatch):
    """A DNS stand-in for names under .example: each lookup takes the next answer of `answers[name]`."""
    answers: dict[str, list[str]] = {}
    system = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        if not str(host).endswith(".example"):
            return system(host, port, *args, **kwargs)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
    monkeypatch.setattr(outbound, "_getaddrinfo", getaddrinfo)
    return answers


def test_the_fetch_connects_to_the_address_it_checked_and_refuses_a_name_that_now_resolves_inward(customer_web, dns) -> None:
    customer_web.pages["/boot.ipxe"] = b"#!ipxe\necho mine\n"
    port = customer_web.httpd.server_address[1]
    # The name resolves only through the check (the system resolver does not know it): the fetch reaching the
    # script proves the connection went to the checked address, not to a second lookup.
    dns["script.example"] = [CUSTOMER_WEB_ADDRESS]
    assert script_fetch(ipxe_script_url=f"http://script.example:{port}/boot.ipxe", userdata="") == "#!ipxe\necho mine\n"
    # Rebinding: the same name now answers the metadata address.
    dns["script.example"] = ["169.254.169.254"]
    with pytest.raises(CustomIpxeError, match=r"script\.example \(169\.254\.169\.254\): it is a link-local address"):
        script_fetch(ipxe_script_url=f"http://script.example:{port}/boot.ipxe", userdata="")
    assert customer_web.hits == ["/boot.ipxe"]


def test_a_redirect_inward_is_refused_and_one_outward_is_followed(customer_web) -> None:
    port = customer_web.httpd.server_address[1]
    customer_web.pages["/real.ipxe"] = b"#!ipxe\necho real\n"
    customer_web.redirects["/moved.ipxe"] = f"http://{CUSTOMER_WEB_ADDRESS}:{port}/real.ipxe"
    customer_web.redirects["/inward.ipxe"] = f"http://127.0.0.1:{port}/real.ipxe"
    customer_web.redirects["/loop.ipxe"] = "/loop.ipxe"
    base = f"http://{CUSTOMER_WEB_ADDRESS}:{port}"
    assert script_fetch(ipxe_script_url=f"{base}/moved.ipxe", userdata="") == "#!ipxe\necho real\n"
    with pytest.raises(CustomIpxeError, match="it is a loopback address"):
        script_fetch(ipxe_script_url=f"{base}/inward.ipxe", userdata="")
    with pytest.raises(CustomIpxeError, match="redirects more than 3 times"):
        script_fetch(ipxe_script_url=f"{base}/loop.ipxe", userdata="")
