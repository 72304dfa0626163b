"""Custom iPXE: the customer's own boot script for the `custom_ipxe` operating system. The run fetches it
once (`ipxe_script_url` over HTTP(S), bounded in time and size, or the device's userdata when it begins
`#!ipxe`), checks it is an iPXE script and keeps the copy it checked; the machine is served that copy,
chained from the platform's own per-MAC script (apps.installs.ipxe). A URL that does not answer, answers
too much or answers something that is not iPXE fails the run with that reason; one that points at the
platform's own or private networks is refused (apps.installs.outbound), at order time and again at fetch time.
urllib3 rather than requests: the connection goes to the address that was checked, not to a second lookup."""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin

import urllib3
from django.conf import settings

from apps.installs.outbound import Target, TargetRefused, target_check

IPXE_MAGIC = "#!ipxe"
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Metalyard custom-ipxe fetch"


class CustomIpxeError(Exception):
    """The customer's script could not be had; the message is the run's failure reason."""


def custom_ipxe_operating_system() -> Any:
    """The custom_ipxe catalog row (made by migration 0011; made again here if staff deleted it, since
    clients send the slug without looking it up)."""
    from apps.installs.models import CUSTOM_IPXE_SLUG, OperatingSystem

    os_, _ = OperatingSystem.objects.get_or_create(slug=CUSTOM_IPXE_SLUG, defaults={
        "name": "Custom iPXE", "distro": "custom_ipxe", "version": "", "image_url": "", "image_sha256": "0" * 64, "image_size": 1,
        "kernel_args": "", "provisionable": True})
    return os_


def has_script(*, ipxe_script_url: str, userdata: str) -> bool:
    return bool(ipxe_script_url) or userdata.lstrip().startswith(IPXE_MAGIC)


def script_fetch(*, ipxe_script_url: str, userdata: str) -> str:
    """The customer's iPXE script, checked. The URL wins over userdata, as on the real service. The URL's host
    is resolved and checked again here (apps.installs.outbound: it may resolve elsewhere than at order time)."""
    if not ipxe_script_url:
        if userdata.lstrip().startswith(IPXE_MAGIC):
            return _checked(userdata.lstrip(), "the userdata")
        raise CustomIpxeError("custom_ipxe needs an ipxe_script_url or userdata beginning with #!ipxe")
    limit = int(settings.CUSTOM_IPXE_MAX_BYTES)
    timeout = float(settings.CUSTOM_IPXE_TIMEOUT)
    url = ipxe_script_url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = target_check(url, timeout=timeout)
        except TargetRefused as exc:
            raise CustomIpxeError(f"the iPXE script URL {url} is refused: {exc}") from None
        status, location, body = _get(target, url=url, timeout=timeout, limit=limit)
        if location is None:
            break
        url = urljoin(url, location)
    else:
        raise CustomIpxeError(f"the iPXE script URL {ipxe_script_url} redirects more than {MAX_REDIRECTS} times")
    if status != 200:
        raise CustomIpxeError(f"the iPXE script URL {url} answered HTTP {status}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CustomIpxeError(f"the iPXE script at {url} is not text (UTF-8)") from None
    return _checked(text, url)


def _get(target: Target, *, url: str, timeout: float, limit: int) -> tuple[int, str | None, bytes]:
    """One GET to the checked address of `target` (no redirect followed): (status, redirect location, body)."""
    bounds = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            str(target.address), target.port, timeout=bounds, retries=False, cert_reqs="CERT_REQUIRED",
            server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(str(target.address), target.port, timeout=bounds, retries=False)
    # A server that drips its answer is cut off too: the whole exchange has a deadline, not only each read.
    deadline = time.monotonic() + 2 * timeout
    try:
        with pool:
            answer = pool.urlopen("GET", target.path, headers={"Host": target.host_header, "User-Agent": USER_AGENT},
                                  redirect=False, retries=False, preload_content=False)
            try:
                if answer.status in REDIRECTS and answer.headers.get("Location"):
                    return answer.status, answer.headers["Location"], b""
                body = bytearray()
                for chunk in answer.stream(8192):
                    body += chunk
                    if len(body) > limit:
                        raise CustomIpxeError(f"the iPXE script at {url} is larger than {limit} bytes")
                    if time.monotonic() > deadline:
                        raise CustomIpxeError(f"the iPXE script URL {url} did not send its script within {2 * timeout:g} s")
                return answer.status, None, bytes(body)
            finally:
                answer.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # refused, unreachable (urllib3 files it under timeouts)
        raise CustomIpxeError(f"the iPXE script URL {url} could not be fetched: {_short(exc)}") from None
    except urllib3.exceptions.TimeoutError:
        raise CustomIpxeError(f"the iPXE script URL {url} did not answer within {timeout:g} s") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CustomIpxeError(f"the iPXE script URL {url} could not be fetched: {_short(exc)}") from None


def _checked(text: str, where: str) -> str:
    if not text.startswith(IPXE_MAGIC):
        raise CustomIpxeError(f"{where} is not an iPXE script (it does not begin with {IPXE_MAGIC})")
    return text


def _short(exc: Any) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
