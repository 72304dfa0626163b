"""Custom iPXE: the customer's own boot script for the `custom_ipxe` operating system. The run fetches it
once (`ipxe_script_url` over HTTP(S), bounded in time and size, or the device's userdata when it begins
`#!ipxe`), checks it is an iPXE script and keeps the copy it checked; the machine is served that copy,
chained from the platform's own per-MAC script (apps.installs.ipxe). A URL that does not answer, answers
too much or answers something that is not iPXE fails the run with that reason."""
from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

IPXE_MAGIC = "#!ipxe"


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
    """The customer's iPXE script, checked. The URL wins over userdata, as on the real service."""
    if not ipxe_script_url:
        if userdata.lstrip().startswith(IPXE_MAGIC):
            return _checked(userdata.lstrip(), "the userdata")
        raise CustomIpxeError("custom_ipxe needs an ipxe_script_url or userdata beginning with #!ipxe")
    limit = int(settings.CUSTOM_IPXE_MAX_BYTES)
    timeout = float(settings.CUSTOM_IPXE_TIMEOUT)
    try:
        with requests.get(ipxe_script_url, timeout=(timeout, timeout), stream=True, allow_redirects=True) as answer:
            if answer.status_code != 200:
                raise CustomIpxeError(f"the iPXE script URL {ipxe_script_url} answered HTTP {answer.status_code}")
            body = bytearray()
            for chunk in answer.iter_content(8192):
                body += chunk
                if len(body) > limit:
                    raise CustomIpxeError(f"the iPXE script at {ipxe_script_url} is larger than {limit} bytes")
    except requests.Timeout:
        raise CustomIpxeError(f"the iPXE script URL {ipxe_script_url} did not answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise CustomIpxeError(f"the iPXE script URL {ipxe_script_url} could not be fetched: {_short(exc)}") from None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise CustomIpxeError(f"the iPXE script at {ipxe_script_url} is not text (UTF-8)") from None
    return _checked(text, ipxe_script_url)


def _checked(text: str, where: str) -> str:
    if not text.startswith(IPXE_MAGIC):
        raise CustomIpxeError(f"{where} is not an iPXE script (it does not begin with {IPXE_MAGIC})")
    return text


def _short(exc: Any) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
