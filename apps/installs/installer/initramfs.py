"""Builds the installer initramfs: static busybox, the virtio modules and the /init script
(init.sh beside this module), packed with `cpio -H newc | gzip` — no root needed."""
from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

from apps.installs.installer.kernel import Kernel, NetbootToolError, ensure_kernel

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")


def _busybox() -> Path:
    for candidate in (BUSYBOX, Path("/usr/bin/busybox")):
        if candidate.is_file():
            out = subprocess.run(["file", "-b", str(candidate)], capture_output=True, text=True, timeout=10, check=False).stdout \
                if shutil.which("file") else "statically linked"
            if "dynamically" not in out:
                return candidate
    raise NetbootToolError("no static busybox found (Debian: apt-get install -y --no-install-recommends busybox-static)")


def build_initramfs(target: Path, *, kernel: Kernel | None = None) -> Path:
    """Write the installer initramfs to `target` (atomically) and return it."""
    kernel = kernel or ensure_kernel()
    if shutil.which("cpio") is None:
        raise NetbootToolError("cpio is not installed (Debian: apt-get install -y --no-install-recommends cpio)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        for sub in ("bin", "dev", "proc", "sys", "tmp", "lib/modules"):
            (root / sub).mkdir(parents=True)
        shutil.copy2(_busybox(), root / "bin" / "busybox")
        (root / "bin" / "sh").symlink_to("busybox")
        for module in kernel.modules:
            shutil.copy2(module, root / "lib" / "modules" / module.name)
        for name, dest in (("init.sh", "init"), ("dhcp.script", "dhcp.script")):
            shutil.copy2(HERE / name, root / dest)
            (root / dest).chmod(0o755)
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        done = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "--owner", "0:0"], cwd=root,
                              input="\n".join(files).encode(), capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise NetbootToolError(f"cpio failed: {done.stderr.decode(errors='replace')[-300:]}")
        partial = target.with_name(target.name + ".partial")
        with gzip.open(partial, "wb", compresslevel=6) as fh:
            fh.write(done.stdout)
        partial.replace(target)
    return target


def build_assets(directory: Path) -> dict[str, Path]:
    """Put `vmlinuz` and `installer.cpio.gz` into `directory` (what the platform serves to netbooting machines)."""
    kernel = ensure_kernel()
    directory.mkdir(parents=True, exist_ok=True)
    vmlinuz = directory / "vmlinuz"
    if not vmlinuz.exists() or vmlinuz.stat().st_size != kernel.vmlinuz.stat().st_size:
        shutil.copy2(kernel.vmlinuz, vmlinuz)
    initrd = build_initramfs(directory / "installer.cpio.gz", kernel=kernel)
    return {"kernel": vmlinuz, "initrd": initrd}
