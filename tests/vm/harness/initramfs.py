"""Builds the guest's initramfs: busybox, host tools with their shared libraries, the
project's binaries, kernel modules and /init. The result is an uncompressed newc cpio,
cached under <cache>/initramfs/ by a hash of everything that goes into it, so a rebuild
with nothing changed costs only the hashing."""

import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from .kernel import Kernel
from .util import HarnessError, cache_dir, locked, say

HERE = pathlib.Path(__file__).resolve().parent.parent
GUEST_DIR = HERE / "guest"
FORMAT_VERSION = "1"  # bump when the layout below changes

# Loaded by /init in this order; any failure is fatal for the boot.
MODULES = [
    "virtio_pci", "virtio_blk", "virtio_net",
    "dm-mod", "dm-crypt", "dm-integrity",
    "aesni-intel", "xts", "authenc", "gcm", "algif_skcipher", "algif_hash", "algif_aead",
    "ext4", "xfs", "loop",
]

# Tools copied from the host. Required ones fail the build when missing.
REQUIRED_TOOLS = [
    "cryptsetup", "veritysetup", "integritysetup", "dmsetup",
    "mkfs.ext4", "mke2fs", "e2fsck", "resize2fs", "tune2fs", "dumpe2fs",
    "mkfs.xfs", "xfs_growfs", "xfs_repair",
    "blkid", "wipefs", "losetup", "dd", "kmod",
]
# Available on request (Plan(tools=...)): fio alone pulls in ~60 MiB of libraries (ceph,
# gluster, ICU), which would slow down every boot.
EXTRA_TOOLS = ["fio"]
OPTIONAL_TOOLS = ["keyctl", "tpm2_getcap", "sg_inq"]
# Shared libraries programs load with dlopen, which ldd cannot see: the TSS's TCTI loader
# opens libtss2-tcti-device for "device:/dev/tpmrm0" (the guest's vTPM). Added when the
# host has them.
DLOPEN_LIBRARIES = ["libtss2-tcti-device.so.0"]
LIBRARY_PATH = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"]
KMOD_LINKS = ["modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo"]
TOOL_PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join(TOOL_PATH + [os.environ.get("PATH", "")]))


def _libraries(binary: str) -> list[str]:
    """Shared libraries and the ELF interpreter of `binary`, as absolute host paths."""
    result = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if result.returncode != 0:
        if "not a dynamic executable" in (result.stdout + result.stderr):
            return []
        raise HarnessError(f"ldd {binary} failed: {result.stderr.strip()}")
    libs = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise HarnessError(f"{binary}: shared library {line} not found on the host")
        match = re.match(r"\S+ => (/\S+)", line) or re.match(r"(/\S+) \(0x", line)
        if match:
            libs.append(match.group(1))
    return libs


def _module_closure(kernel: Kernel, modules: list[str]) -> list[str]:
    """Module files (relative to lib/modules/<release>) that `modules` need, in load order."""
    files = []
    for module in modules:
        result = subprocess.run(
            ["modprobe", "-d", str(kernel.root), "-S", kernel.release, "--show-depends", module],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"kernel {kernel.release} has no module {module}: "
                               f"{result.stderr.strip()}")
        for line in result.stdout.splitlines():
            if line.startswith("insmod "):
                path = pathlib.Path(line.split()[1]).relative_to(kernel.modules_dir)
                if str(path) not in files:
                    files.append(str(path))
    return files


class Plan:
    """Everything that goes into one initramfs, as (guest path -> host path) plus symlinks."""

    def __init__(self, kernel: Kernel, binaries: dict[str, str], tools: list[str]):
        self.kernel = kernel
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.modules = MODULES
        self._add_busybox()
        for tool in REQUIRED_TOOLS + sorted(set(tools)) + OPTIONAL_TOOLS:
            path = _which(tool)
            if path is None:
                if tool not in OPTIONAL_TOOLS:
                    raise HarnessError(f"host tool {tool} is missing; run scripts/install-deps")
                continue
            self._add_program(path, "/usr/sbin/" + tool if "sbin" in path else "/usr/bin/" + tool)
        for link in KMOD_LINKS:
            self.links[f"/sbin/{link}"] = "/usr/bin/kmod"
        for library in DLOPEN_LIBRARIES:
            path = next((f"{d}/{library}" for d in LIBRARY_PATH
                         if os.path.isfile(f"{d}/{library}")), None)
            if path is not None:
                self.files[path] = os.path.realpath(path)
                for lib in _libraries(path):
                    self.files[lib] = lib
        for name, path in sorted(binaries.items()):
            if not os.path.isfile(path) or not os.access(path, os.X_OK):
                raise HarnessError(f"binary {name} ({path}) does not exist or is not executable")
            self._add_program(path, f"/usr/local/bin/{name}")
        for module in _module_closure(kernel, self.modules):
            self.files[f"/lib/modules/{kernel.release}/{module}"] = str(kernel.modules_dir / module)
        for meta in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
            source = kernel.modules_dir / meta
            if source.exists():
                self.files[f"/lib/modules/{kernel.release}/{meta}"] = str(source)
        self.files["/init"] = str(GUEST_DIR / "init")
        self.files["/cloak/lib.sh"] = str(GUEST_DIR / "lib.sh")

    def _add_busybox(self) -> None:
        busybox = _which("busybox")
        if busybox is None or _libraries(busybox):
            raise HarnessError("a static busybox is needed; install busybox-static")
        self.files["/bin/busybox"] = busybox
        listing = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for applet in listing:
            self.links["/" + applet.lstrip("/")] = "/bin/busybox"

    def _add_program(self, host_path: str, guest_path: str) -> None:
        self.files[guest_path] = host_path
        self.links.pop(guest_path, None)
        # A real tool replaces the busybox applet of the same name wherever it lives.
        base = os.path.basename(guest_path)
        for prefix in ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"):
            if prefix + base != guest_path and self.links.get(prefix + base) == "/bin/busybox":
                self.links[prefix + base] = guest_path
        for lib in _libraries(host_path):
            self.files[lib] = lib

    def digest(self) -> str:
        """Hash of the plan: paths, host file identities (size, mtime) and our own sources."""
        hasher = hashlib.sha256(f"{FORMAT_VERSION}\n{self.kernel.release}\n".encode())
        for guest, host in sorted(self.files.items()):
            st = os.stat(host)
            hasher.update(f"F {guest} {host} {st.st_size} {st.st_mtime_ns}\n".encode())
            if host.startswith(str(GUEST_DIR)):
                hasher.update(pathlib.Path(host).read_bytes())
        for guest, target in sorted(self.links.items()):
            hasher.update(f"L {guest} {target}\n".encode())
        hasher.update(" ".join(self.modules).encode())
        return hasher.hexdigest()[:24]

    def write(self, output: pathlib.Path) -> None:
        stage = pathlib.Path(tempfile.mkdtemp(prefix="stage-", dir=output.parent))
        try:
            for d in ("proc", "sys", "dev", "run", "tmp", "mnt", "root", "etc/cloak",
                      "var/tmp", "usr/local/bin", "cloak"):
                (stage / d).mkdir(parents=True, exist_ok=True)
            (stage / "tmp").chmod(0o1777)
            for guest, host in self.files.items():
                target = stage / guest.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(host, target, follow_symlinks=True)
            for guest, dest in self.links.items():
                link = stage / guest.lstrip("/")
                if link.exists() or link.is_symlink():
                    continue
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(dest)
            (stage / "init").chmod(0o755)
            (stage / "etc/cloak/modules").write_text("\n".join(self.modules) + "\n")
            (stage / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
            (stage / "etc/group").write_text("root:x:0:\n")
            subprocess.run(["depmod", "-b", str(stage), self.kernel.release], check=True)
            names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
            partial = output.with_suffix(".partial")
            with open(partial, "wb") as out:
                subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                               cwd=stage, input="\n".join(names).encode(), stdout=out,
                               check=True)
            partial.rename(output)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def build_initramfs(kernel: Kernel, binaries: dict[str, str] | None = None,
                    tools: list[str] | None = None, keep: int = 6) -> pathlib.Path:
    """Returns the path of an initramfs with `binaries` ({name: host path}) in
    /usr/local/bin and the extra host `tools` (e.g. fio), building it only when no cached
    one has the same content hash."""
    plan = Plan(kernel, binaries or {}, tools or [])
    base = cache_dir() / "initramfs"
    base.mkdir(parents=True, exist_ok=True)
    output = base / f"{plan.digest()}.cpio"
    with locked(base / ".lock"):
        if output.exists():
            os.utime(output)
            return output
        say(f"cloakvm: building initramfs {output.name}")
        plan.write(output)
        images = sorted(base.glob("*.cpio"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in images[keep:]:
            old.unlink(missing_ok=True)
    return output
