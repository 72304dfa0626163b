"""Builds the lab operating system image: a disk a machine boots from after the installer wrote it.

A FAT file system over the whole disk (no partition table) made bootable by SYSLINUX, holding the
Debian cloud kernel, the lab initramfs and a syslinux.cfg that starts it in `firstboot` mode (see
init.sh): at its first boot the "installed system" reads where to call home from the disk and phones
home, as cloud-init would. Built with mkfs.fat, syslinux and mtools on a plain file — no root, no
loop device, no mount."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from apps.installs.installer.initramfs import build_initramfs
from apps.installs.installer.kernel import Kernel, ensure_kernel, run_tool

PACKAGES = "syslinux syslinux-common mtools dosfstools"
SYSLINUX_CFG = """DEFAULT os
PROMPT 0
TIMEOUT 0
LABEL os
  KERNEL vmlinuz
  INITRD initrd
  APPEND console=ttyS0 quiet metalyard.mode=firstboot
"""
TOOL_TIMEOUT = 120


def build_os_image(target: Path, *, kernel: Kernel | None = None) -> tuple[Path, str, int]:
    """Write the bootable image to `target` (atomically); returns (path, SHA-256, size in bytes)."""
    kernel = kernel or ensure_kernel()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        initrd = build_initramfs(Path(tmp) / "initrd", kernel=kernel)
        cfg = Path(tmp) / "syslinux.cfg"
        cfg.write_text(SYSLINUX_CFG)
        payload = kernel.vmlinuz.stat().st_size + initrd.stat().st_size
        size_kib = ((payload // 1024 + 2048) // 1024 + 1) * 1024  # the files plus 2 MiB, in whole MiB
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        run_tool(["mkfs.fat", "-C", "-n", "LABOS", str(partial), str(size_kib)], timeout=TOOL_TIMEOUT, packages=PACKAGES)
        run_tool(["syslinux", "--install", str(partial)], timeout=TOOL_TIMEOUT, packages=PACKAGES)
        # mtools refuses to touch a file system it thinks is a floppy of another geometry otherwise.
        env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
        for source, name in ((kernel.vmlinuz, "vmlinuz"), (initrd, "initrd"), (cfg, "syslinux.cfg")):
            run_tool(["mcopy", "-o", "-i", str(partial), str(source), f"::{name}"], timeout=TOOL_TIMEOUT, env=env, packages=PACKAGES)
        partial.replace(target)
    data = target.read_bytes()
    return target, hashlib.sha256(data).hexdigest(), len(data)
