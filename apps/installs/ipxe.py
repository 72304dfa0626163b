"""The iPXE scripts the platform hands to netbooting machines: the generic entry script (the DHCP
boot file), an install/wipe/discovery script per MAC, and "boot from local disk" for the rest."""
from __future__ import annotations

from django.conf import settings

from apps.installs.models import Install, InstallKind


def _absolute(url: str, base_url: str) -> str:
    return f"{base_url}{url}" if url.startswith("/") else url


def entry_script(base_url: str) -> str:
    # hexhyp keeps the MAC URL-safe (52-54-00-12-34-56).
    return f"#!ipxe\nchain {base_url}/ipxe/mac/${{net0/mac:hexhyp}}\n"


def local_boot_script(reason: str) -> str:
    # `exit` hands back to the firmware, which tries the next boot device (the local disk).
    return f"#!ipxe\necho Metalyard: {reason}; booting from local disk\nsanboot --no-describe --drive 0x80 || exit\n"


def _boot(kernel: str, initrd: str, args: str) -> str:
    return f"#!ipxe\nkernel {kernel} {args}\ninitrd {initrd}\nboot\n"


def install_mode(install: Install) -> str:
    return {InstallKind.DEPROVISION: "wipe", InstallKind.COMMISSIONING: "discover", InstallKind.RESCUE: "rescue",
            InstallKind.CUSTOM_IPXE: "custom_ipxe"}.get(install.kind, "install")


def custom_chain_script(install: Install, base_url: str) -> str:
    """The platform's own script for a custom iPXE boot: it chains the customer's script as the run
    fetched and checked it (served from the provisioning listener, to this machine only)."""
    return f"#!ipxe\necho Metalyard: chaining the custom iPXE script\nchain {base_url}/machine/{install.pk}/custom.ipxe\n"


def install_script(install: Install, base_url: str) -> str:
    """The installer's kernel and its orders. No secret: the installer claims its run (POST …/claim)
    from its reserved address and gets the phase's secret once."""
    if install.kind == InstallKind.CUSTOM_IPXE:
        return custom_chain_script(install, base_url)
    mode = install_mode(install)
    os_ = install.operating_system or (install.device.operating_system if install.device else None)
    if os_ is not None and mode == "install":
        kernel, initrd, extra = os_.kernel_url, os_.initrd_url, os_.kernel_args
    else:
        kernel, initrd, extra = settings.INSTALLER_KERNEL_URL, settings.INSTALLER_INITRD_URL, settings.INSTALLER_KERNEL_ARGS
    args = f"{extra} metalyard.api={base_url}/machine/{install.pk} metalyard.mode={mode}".strip()
    return _boot(_absolute(kernel, base_url), _absolute(initrd, base_url), args)


def discovery_script(mac_hexhyp: str, base_url: str) -> str:
    args = f"{settings.INSTALLER_KERNEL_ARGS} metalyard.api={base_url}/discovery/{mac_hexhyp} metalyard.mode=discover".strip()
    return _boot(_absolute(settings.INSTALLER_KERNEL_URL, base_url), _absolute(settings.INSTALLER_INITRD_URL, base_url), args)
