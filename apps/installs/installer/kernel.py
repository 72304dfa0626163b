"""Fetches the Debian cloud kernel once into a cache outside the repository and unpacks only what
the installer needs (vmlinuz and the virtio modules). The kernel package is never installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Load order matters: each module needs the ones before it (the cloud kernel builds none of these in).
MODULE_ORDER = ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
                "failover", "net_failover", "virtio_net", "virtio_blk")
_MODULE_DIRS = {
    "virtio_ring": "drivers/virtio", "virtio": "drivers/virtio", "virtio_pci_legacy_dev": "drivers/virtio",
    "virtio_pci_modern_dev": "drivers/virtio", "virtio_pci": "drivers/virtio", "failover": "net/core",
    "net_failover": "drivers/net", "virtio_net": "drivers/net", "virtio_blk": "drivers/block",
}
APT_TIMEOUT = 300


class NetbootToolError(Exception):
    """A tool the netboot lab needs is missing or failed; the message says what to install or do."""


@dataclass(frozen=True)
class Kernel:
    version: str
    vmlinuz: Path
    modules: tuple[Path, ...]  # in load order


def default_cache_dir() -> Path:
    base = os.environ.get("METALYARD_NETBOOT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "metalyard", "netboot")
    return Path(base)


NETBOOT_PACKAGES = "qemu-system-x86 ipxe-qemu busybox-static cpio"


def run_tool(cmd: list[str], *, cwd: Path | None = None, timeout: int = APT_TIMEOUT, env: dict[str, str] | None = None,
             packages: str = NETBOOT_PACKAGES) -> str:
    """Run one of the netboot lab's tools; NetbootToolError says what to install, or what it printed."""
    if shutil.which(cmd[0]) is None:
        raise NetbootToolError(f"'{cmd[0]}' is not installed (Debian: apt-get install -y --no-install-recommends {packages}).")
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise NetbootToolError(f"{' '.join(cmd)} did not finish within {timeout} s") from exc
    if done.returncode != 0:
        raise NetbootToolError(f"{' '.join(cmd)} failed (rc {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def _kernel_package() -> str:
    out = run_tool(["apt-cache", "depends", "linux-image-cloud-amd64"], timeout=60)
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split()[-1]
    raise NetbootToolError("apt-cache knows no linux-image-cloud-amd64 dependency; run apt-get update first.")


def _cached(cache_dir: Path) -> Kernel | None:
    for version_dir in sorted(cache_dir.glob("kernel-*")):
        vmlinuz = version_dir / "vmlinuz"
        modules = tuple(version_dir / "modules" / f"{name}.ko" for name in MODULE_ORDER)
        if vmlinuz.is_file() and all(m.is_file() for m in modules):
            return Kernel(version_dir.name.removeprefix("kernel-"), vmlinuz, modules)
    return None


def ensure_kernel(cache_dir: Path | None = None) -> Kernel:
    """The cached kernel, downloading and unpacking it (~27 MB, a few seconds) on first use."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = _cached(cache_dir)
    if found:
        return found
    package = _kernel_package()
    version = package.removeprefix("linux-image-")
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        tmp_path = Path(tmp)
        # apt-get download as root warns that _apt cannot write here; harmless.
        run_tool(["apt-get", "download", package], cwd=tmp_path)
        debs = list(tmp_path.glob("*.deb"))
        if not debs:
            raise NetbootToolError(f"apt-get download {package} produced no .deb")
        tar_path = tmp_path / "data.tar"
        with open(tar_path, "wb") as fh:
            done = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=fh, timeout=APT_TIMEOUT, check=False)
        if done.returncode != 0:
            raise NetbootToolError(f"dpkg-deb --fsys-tarfile {debs[0].name} failed")
        staging = tmp_path / f"kernel-{version}"
        (staging / "modules").mkdir(parents=True)
        wanted = {f"./boot/vmlinuz-{version}": staging / "vmlinuz"}
        for name, sub in _MODULE_DIRS.items():
            wanted[f"./lib/modules/{version}/kernel/{sub}/{name}.ko"] = staging / "modules" / f"{name}.ko"
        with tarfile.open(tar_path) as tar:
            for member in tar:
                target = wanted.pop(member.name, None)
                if target is None or not member.isfile():
                    continue
                src = tar.extractfile(member)
                assert src is not None
                with open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if wanted:
            raise NetbootToolError(f"{package} lacks {', '.join(sorted(wanted))}")
        final = cache_dir / staging.name
        if not final.exists():
            staging.rename(final)
    found = _cached(cache_dir)
    if not found:
        raise NetbootToolError(f"unpacked {package} but the cache at {cache_dir} is incomplete")
    return found
