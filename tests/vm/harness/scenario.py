"""Scenarios: sequences of guest boots and host steps over the same disk files.

A scenario is a module in tests/vm/scenarios/ with a DESCRIPTION string and a function
run(ctx: Context). It boots the guest with ctx.boot(...) as often as it needs, checks the
disk images from the host in between, and fails by raising (ctx.fail or any exception).
"""

import importlib.util
import os
import pathlib
import shutil
import time

from . import vm
from .initramfs import build_initramfs
from .keyholder import KeyHolder
from .util import HarnessError, parse_size, say, scan_file

SCENARIO_DIR = pathlib.Path(__file__).resolve().parent.parent / "scenarios"
KEYHOLDER_PORT = 7000  # guest side: 10.0.2.100:7000


class ScenarioFailure(HarnessError):
    pass


def available() -> dict[str, pathlib.Path]:
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.py")) if not p.stem.startswith("_")}


def load(name: str):
    path = available().get(name)
    if path is None:
        raise HarnessError(f"no scenario {name}; known: {', '.join(available())}")
    spec = importlib.util.spec_from_file_location(f"cloak_vm_scenario_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    def __init__(self, name: str, kernel, workdir: pathlib.Path, build_dir: pathlib.Path | None,
                 binaries: dict[str, str], echo: bool = False):
        self.name = name
        self.kernel = kernel
        self.workdir = workdir
        self.logdir = workdir / "logs"
        self.build_dir = build_dir
        self.binaries = binaries
        self.echo = echo
        self.boots: list[vm.BootResult] = []
        self._keyholder: KeyHolder | None = None

    # -- setup -----------------------------------------------------------------------------
    def disk(self, name: str, size=None) -> vm.Disk:
        """A test disk backed by <workdir>/<name>.img; created sparse on first boot."""
        return vm.Disk(name, self.workdir / f"{name}.img", parse_size(size) if size else None)

    def binary(self, name: str) -> str:
        """Host path of a project binary: --binary NAME=PATH, else found in the build dir.
        A missing binary fails the scenario; it is never skipped."""
        path = self.binaries.get(name)
        if path is None and self.build_dir is not None:
            found = sorted(p for p in self.build_dir.rglob(name)
                           if p.is_file() and os.access(p, os.X_OK) and "CMakeFiles" not in p.parts)
            path = str(found[0]) if found else None
        if path is None or not os.path.isfile(path):
            where = path or f"anywhere under {self.build_dir or '(no --build-dir given)'}"
            raise ScenarioFailure(
                f"{self.name} needs the program {name}, which was not built ({where}). "
                f"Build it first (e.g. `ninja -C BUILD_DIR {name}`); the VM tier does not skip it.")
        return path

    @property
    def keyholder(self) -> KeyHolder:
        if self._keyholder is None:
            self._keyholder = KeyHolder()
        return self._keyholder

    # -- guest -----------------------------------------------------------------------------
    def boot(self, script: str, disks: list[vm.Disk], *, binaries: list[str] = (),
             tools: list[str] = (), keyholder: bool = False, tpm: bool = False,
             forwards: list[vm.Forward] = (), env: dict[str, str] | None = None,
             timeout: float = 300, expect_ok: bool = True, label: str | None = None
             ) -> vm.BootResult:
        """Boots the guest and runs `script`; raises ScenarioFailure unless it exits 0
        (with expect_ok=False the result is returned for the scenario to judge)."""
        label = label or f"boot{len(self.boots) + 1}"
        image = build_initramfs(self.kernel, {b: self.binary(b) for b in binaries}, list(tools))
        env = dict(env or {})
        forwards = list(forwards)
        if keyholder:
            forwards.append(vm.Forward(KEYHOLDER_PORT, f"tcp:127.0.0.1:{self.keyholder.port}"))
            env["CLOAK_KEYHOLDER"] = f"10.0.2.100:{KEYHOLDER_PORT}"
        result = vm.boot(kernel=self.kernel, initramfs=image,
                         script="set -eu\n. /cloak/lib.sh\n" + script, disks=disks,
                         log=self.logdir / f"{label}.log", workdir=self.workdir, env=env,
                         tpm_state=self.workdir / "tpm" if tpm else None, forwards=forwards,
                         timeout=timeout, echo=self.echo)
        self.boots.append(result)
        say(f"  {label}: {'ok' if result.ok else result.reason} ({result.seconds:.1f} s, "
            f"log {result.log})")
        if expect_ok and not result.ok:
            raise ScenarioFailure(f"{label}: {result.reason}\n  last guest output:\n"
                                  f"{result.summary()}")
        return result

    # -- host steps ------------------------------------------------------------------------
    def fail(self, message: str):
        raise ScenarioFailure(message)

    def find_all(self, disk: vm.Disk, needle: bytes) -> list[int]:
        """Offsets of every occurrence of `needle` in the disk image (holes skipped)."""
        return scan_file(disk.path, {"needle": needle}).get("needle", [])

    def assert_absent(self, disks: list[vm.Disk], needles: dict[str, bytes]) -> None:
        """Invariant 3: none of `needles` (canaries, keys) appears in any disk image."""
        for disk in disks:
            for label, needle in needles.items():
                if len(needle) < 8:
                    self.fail(f"needle {label} is too short to scan for")
                hits = self.find_all(disk, needle)
                if hits:
                    self.fail(f"{label} found in plaintext in {disk.path} at offset(s) {hits[:5]}")
        say(f"  host: {len(needles)} needle(s) absent from {len(disks)} image(s)")

    def flip_byte(self, disk: vm.Disk, offset: int) -> None:
        with open(disk.path, "r+b") as handle:
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ 0x01]))
        say(f"  host: flipped one bit of the byte at offset {offset} of {disk.path.name}")

    def close(self) -> None:
        if self._keyholder is not None:
            self._keyholder.close()


def run_scenario(name: str, kernel, workroot: pathlib.Path, build_dir, binaries, echo=False,
                 keep=False) -> tuple[bool, str, float, int]:
    """Runs one scenario in a fresh work directory. Returns (passed, message, seconds, boots)."""
    workdir = workroot / name
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ctx = Context(name, kernel, workdir, build_dir, binaries, echo)
    start = time.monotonic()
    try:
        module = load(name)
        say(f"--- {name}: {module.DESCRIPTION}")
        module.run(ctx)
        passed, message = True, ""
    except HarnessError as error:
        passed, message = False, str(error)
    except Exception as error:  # a bug in a scenario is a failure too
        passed, message = False, f"{type(error).__name__}: {error}"
    finally:
        ctx.close()
    seconds = time.monotonic() - start
    if passed and not keep:
        for image in workdir.glob("*.img"):
            image.unlink()
    return passed, message, seconds, len(ctx.boots)
