"""Fetches Debian's kernel package with apt-get and keeps it unpacked under the cache.

Layout: <cache>/kernel/<package>_<version>/{vmlinuz, root/lib/modules/<release>/...}.
The metapackage linux-image-amd64 only depends on the real image package, so its
dependency is resolved first. Without network, the newest cached kernel is used.
"""

import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from .util import HarnessError, cache_dir, locked, say

METAPACKAGE = "linux-image-amd64"


@dataclasses.dataclass(frozen=True)
class Kernel:
    package: str
    version: str
    release: str  # the `uname -r` string, e.g. 6.1.0-56-amd64
    vmlinuz: pathlib.Path
    root: pathlib.Path  # holds lib/modules/<release>

    @property
    def modules_dir(self) -> pathlib.Path:
        return self.root / "lib" / "modules" / self.release


def _run(args, **kwargs) -> str:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _candidate(package: str) -> str | None:
    try:
        out = _run(["apt-cache", "policy", package])
    except (HarnessError, FileNotFoundError):
        return None
    match = re.search(r"Candidate:\s*(\S+)", out)
    return match.group(1) if match and match.group(1) != "(none)" else None


def _resolve_package() -> tuple[str, str] | None:
    """(image package, version) that linux-image-amd64 currently points at, or None offline."""
    override = os.environ.get("CLOAK_VM_KERNEL_PACKAGE")
    if override:
        package = override
    else:
        try:
            out = _run(["apt-cache", "depends", METAPACKAGE])
        except (HarnessError, FileNotFoundError):
            return None
        deps = re.findall(r"Depends:\s*(linux-image-\S+)", out)
        if not deps:
            return None
        package = deps[0]
    version = _candidate(package)
    return (package, version) if version else None


def _load(entry: pathlib.Path) -> Kernel | None:
    vmlinuz = entry / "vmlinuz"
    modules = entry / "root" / "lib" / "modules"
    if not (vmlinuz.is_file() and modules.is_dir() and (entry / "complete").exists()):
        return None
    releases = sorted(p.name for p in modules.iterdir())
    package, _, version = entry.name.partition("_")
    return Kernel(package, version, releases[0], vmlinuz, entry / "root")


def _unpack(deb: pathlib.Path, entry: pathlib.Path) -> None:
    staging = pathlib.Path(tempfile.mkdtemp(prefix="unpack-", dir=entry.parent))
    try:
        _run(["dpkg-deb", "-x", str(deb), str(staging / "root")])
        boot = staging / "root" / "boot"
        images = sorted(boot.glob("vmlinuz-*"))
        if not images:
            raise HarnessError(f"{deb.name} holds no /boot/vmlinuz-*")
        release = images[0].name.removeprefix("vmlinuz-")
        shutil.move(str(images[0]), staging / "vmlinuz")
        shutil.copy(boot / f"config-{release}", staging / "config")
        shutil.rmtree(boot)
        # Decompress modules once here, so that the guest never needs xz/zstd support.
        for compressed in (staging / "root" / "lib" / "modules").rglob("*.ko.*"):
            tool = {".xz": ["xz", "-d", "-f"], ".zst": ["zstd", "-d", "-q", "-f", "--rm"],
                    ".gz": ["gzip", "-d", "-f"]}.get(compressed.suffix)
            if tool is None:
                raise HarnessError(f"unknown module compression: {compressed}")
            _run(tool + [str(compressed)])
        _run(["depmod", "-b", str(staging / "root"), release])
        (staging / "complete").write_text(f"{release}\n")
        if entry.exists():
            shutil.rmtree(entry)
        staging.rename(entry)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def ensure_kernel() -> Kernel:
    """Returns an unpacked kernel, downloading it with `apt-get download` when needed."""
    base = cache_dir() / "kernel"
    base.mkdir(parents=True, exist_ok=True)
    with locked(base / ".lock"):
        resolved = _resolve_package()
        if resolved is None:
            cached = [k for k in (_load(e) for e in sorted(base.iterdir()) if e.is_dir()) if k]
            if not cached:
                raise HarnessError(
                    f"cannot resolve {METAPACKAGE} with apt-cache and no kernel is cached in {base}; "
                    "run `apt-get update` and try again")
            return cached[-1]
        package, version = resolved
        entry = base / f"{package}_{version}"
        kernel = _load(entry)
        if kernel:
            return kernel
        say(f"cloakvm: downloading {package} {version} with apt-get (once; cached in {base})")
        download = pathlib.Path(tempfile.mkdtemp(prefix="download-", dir=base))
        try:
            result = subprocess.run(["apt-get", "download", f"{package}={version}"],
                                    cwd=download, capture_output=True, text=True)
            debs = list(download.glob("*.deb"))
            if result.returncode != 0 or not debs:
                raise HarnessError(f"apt-get download {package}={version} failed: "
                                   f"{result.stderr.strip()[-2000:]}")
            _unpack(debs[0], entry)
        finally:
            shutil.rmtree(download, ignore_errors=True)
        kernel = _load(entry)
        if not kernel:
            raise HarnessError(f"unpacking {package} into {entry} did not produce a kernel")
        return kernel
