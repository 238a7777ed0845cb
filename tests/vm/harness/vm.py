"""Boots one QEMU guest: software emulation, the cached initramfs, a payload disk (vda)
with the guest command, test disks (vdb, vdc, ...) backed by sparse files, and optionally
a vTPM (swtpm) and a restricted user network whose only reachable addresses are guestfwd
bridges to loopback services on the host."""

import dataclasses
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from .util import HarnessError, say

BRIDGE = pathlib.Path(__file__).resolve().parent / "bridge.py"
SETUP_ERROR_RC = 254


@dataclasses.dataclass
class Disk:
    name: str  # virtio serial; the guest exports CLOAK_DISK_<NAME>
    path: pathlib.Path
    size: int | None = None  # create (sparse) with this size when the file is missing

    def ensure(self) -> None:
        if not self.path.exists():
            if self.size is None:
                raise HarnessError(f"disk {self.name}: {self.path} does not exist and has no size")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb") as handle:
                handle.truncate(self.size)


@dataclasses.dataclass
class Forward:
    """Guest connections to guest_ip:guest_port reach `target` on the host:
    'tcp:127.0.0.1:PORT' or 'unix:/path/to/socket'."""
    guest_port: int
    target: str
    guest_ip: str = "10.0.2.100"


@dataclasses.dataclass
class BootResult:
    rc: int | None  # the guest command's exit status; None when no marker was seen
    reason: str  # empty on success
    log: pathlib.Path
    seconds: float
    output: list[str]  # serial console lines

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.reason

    def summary(self, lines: int = 40) -> str:
        tail = [l for l in self.output if not l.startswith("CLOAK-VM-RESULT")][-lines:]
        return "\n".join(["    | " + l for l in tail])


def _payload(script: str, env: dict[str, str], token: str, workdir: pathlib.Path) -> pathlib.Path:
    stage = pathlib.Path(tempfile.mkdtemp(prefix="payload-", dir=workdir))
    try:
        payload = stage / "cloak" / "payload"
        payload.mkdir(parents=True)
        (payload / "run.sh").write_text(script)
        (payload / "token").write_text(token + "\n")
        lines = [f"{k}='{v}'" for k, v in sorted(env.items()) if "'" not in v]
        (payload / "env").write_text("\n".join(lines) + "\n")
        out = workdir / "payload.img"
        names = ["cloak", "cloak/payload", "cloak/payload/run.sh", "cloak/payload/token",
                 "cloak/payload/env"]
        with open(out, "wb") as handle:
            subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                           input="\n".join(names).encode(), stdout=handle, check=True)
            size = handle.tell()
            handle.truncate(max(1 << 20, (size + 511) // 512 * 512))
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class _Swtpm:
    def __init__(self, state_dir: pathlib.Path, run_dir: pathlib.Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.socket = run_dir / "swtpm.sock"
        self.socket.unlink(missing_ok=True)
        self.log = run_dir / "swtpm.log"
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state_dir}",
             "--ctrl", f"type=unixio,path={self.socket}", "--log", f"file={self.log},level=1",
             "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise HarnessError(f"swtpm did not start; see {self.log}")
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


BOOT_STALL_S = 120  # a boot that has printed no kernel line by then is stuck in QEMU


def _run_qemu(args: list[str], tpm_state, workdir: pathlib.Path, log_file, output: list[str],
              start: float, timeout: float, echo: bool) -> tuple[bool, bool]:
    """Runs one QEMU boot to its end, appending console lines to `output` and the log.
    Returns (timed_out, stalled): stalled when no kernel line appeared within BOOT_STALL_S."""
    args = list(args)
    swtpm = None
    if tpm_state is not None:
        swtpm = _Swtpm(tpm_state, workdir)
        args += ["-chardev", f"socket,id=chrtpm,path={swtpm.socket}",
                 "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"]
    log_file.write("# " + " ".join(args) + "\n")
    log_file.flush()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    kernel_started = threading.Event()

    def pump():
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            output.append(line)
            if "cloak-vm: kernel" in line or re.match(r"\[\s*\d+\.\d+\]", line):
                kernel_started.set()
            log_file.write(f"[{time.monotonic() - start:7.2f}] {line}\n")
            log_file.flush()
            if echo:
                print("    | " + line, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = stalled = False
    try:
        launched = time.monotonic()
        while True:
            try:
                proc.wait(1)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now - start > timeout:
                    timed_out = True
                elif not kernel_started.is_set() and now - launched > BOOT_STALL_S:
                    stalled = True
                else:
                    continue
                proc.kill()
                proc.wait()
                break
    finally:
        if swtpm:
            swtpm.close()
    reader.join(5)
    return timed_out, stalled


def boot(*, kernel, initramfs: pathlib.Path, script: str, disks: list[Disk], log: pathlib.Path,
         workdir: pathlib.Path, env: dict[str, str] | None = None, tpm_state: pathlib.Path | None = None,
         forwards: list[Forward] | None = None, timeout: float = 300, memory_mb: int = 2048,
         cpus: int = 2, echo: bool = False) -> BootResult:
    """Boots the guest, runs `script` (busybox sh) in it and returns its exit status.
    Never raises for guest-side failures: a panic, a timeout or a missing marker come back
    as a BootResult with a reason."""
    workdir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    env = dict(env or {})
    forwards = list(forwards or [])
    for disk in disks:
        disk.ensure()
    payload = _payload(script, env, token, workdir)

    cmdline = ("console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init mitigations=off "
               "random.trust_cpu=on i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable")
    args = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb),
            "-smp", str(cpus), "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
            "-monitor", "none", "-kernel", str(kernel.vmlinuz), "-initrd", str(initramfs),
            "-append", cmdline,
            "-drive", f"if=none,id=payload,file={payload},format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=payload,serial=cloak-payload"]
    for i, disk in enumerate(disks):
        args += ["-drive", f"if=none,id=d{i},file={disk.path},format=raw,cache=unsafe",
                 "-device", f"virtio-blk-pci,drive=d{i},serial={disk.name}"]
    if forwards:
        netdev = "user,id=net0,restrict=on"
        for fwd in forwards:
            command = f"{sys.executable} {BRIDGE} {fwd.target}".replace(",", ",,")
            if " " in str(BRIDGE) or " " in fwd.target:
                raise HarnessError("guestfwd paths must not contain spaces")
            netdev += f",guestfwd=tcp:{fwd.guest_ip}:{fwd.guest_port}-cmd:{command}"
        args += ["-netdev", netdev, "-device", "virtio-net-pci,netdev=net0"]
    output: list[str] = []
    start = time.monotonic()
    timed_out = False
    with open(log, "w", errors="replace") as log_file:
        for attempt in (1, 2):
            output.clear()
            timed_out, stalled = _run_qemu(args, tpm_state, workdir, log_file, output, start,
                                           timeout, echo)
            if not stalled:
                break
            # QEMU under TCG occasionally hangs before the kernel prints anything. The guest
            # never ran, so nothing was written: boot it once more, and say so.
            note = (f"# attempt {attempt}: no kernel output within {BOOT_STALL_S} s, QEMU "
                    f"killed before the guest ran" + ("; booting again" if attempt == 1 else ""))
            log_file.write(note + "\n")
            log_file.flush()
            say("    " + note.lstrip("# "))
            timed_out = attempt == 2
    seconds = time.monotonic() - start
    payload.unlink(missing_ok=True)

    rc = None
    marker = re.compile(rf"CLOAK-VM-RESULT {token} rc=(\d+)")
    for line in output:
        match = marker.search(line)
        if match:
            rc = int(match.group(1))
    errors = [l.split("CLOAK-VM-ERROR", 1)[1].strip() for l in output if "CLOAK-VM-ERROR" in l]
    panic = next((l.strip() for l in output if "Kernel panic" in l), None)
    if timed_out:
        reason = f"timed out after {timeout:.0f} s (QEMU killed)"
    elif panic:
        reason = f"kernel panic: {panic}"
    elif rc is None:
        reason = f"no result marker on the console (QEMU exit status {proc.returncode})"
    elif rc == SETUP_ERROR_RC and errors:
        reason = "guest setup failed: " + "; ".join(errors)
    elif rc != 0:
        reason = f"guest command exited with status {rc}"
    else:
        reason = ""
    return BootResult(rc, reason, log, seconds, output)
