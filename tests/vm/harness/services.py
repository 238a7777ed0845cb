"""Host-side services and checks the attestation scenarios share: cloak-kms and a swtpm
on loopback, project tools run with their output checked, console markers, and the scan
for a secret known only by its SHA-256 and size."""

import base64
import binascii
import hashlib
import json
import pathlib
import re
import signal
import socket
import subprocess
import time


def free_port_pair() -> int:
    """A loopback port P with P+1 free as well (swtpm's server and control ports)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise OSError("no free loopback port pair for swtpm")


def run(ctx, args: list[str], what: str, timeout: float = 120,
         ok_codes=(0,)) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if result.returncode not in ok_codes:
        ctx.fail(f"{what} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def json_line(ctx, text: str, what: str) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("{")]
    if not lines:
        ctx.fail(f"{what} printed no JSON: {text!r}")
    return json.loads(lines[-1])


def marker(ctx, boot, name: str) -> tuple[str, dict]:
    for line in boot.output:
        if line.startswith(name + " "):
            rest = line[len(name) + 1:]
            prefix, _, payload = rest.partition("{")
            return prefix.strip(), json.loads("{" + payload)
    ctx.fail(f"{boot.log.name}: no {name} line on the console")


def encodings_found(data: bytes, sha256_hex: str, size: int) -> list[str]:
    """Which encodings (raw, hex, base64, base64url) of a secret known only by its SHA-256
    and size occur in `data`: every window of the right length is hashed."""
    target = bytes.fromhex(sha256_hex)
    found = []

    def hit(candidate: bytes) -> bool:
        return len(candidate) == size and hashlib.sha256(candidate).digest() == target

    if any(hit(data[i:i + size]) for i in range(len(data) - size + 1)):
        found.append("raw")
    for run in re.finditer(rb"[0-9a-fA-F]{%d,}" % (2 * size), data):
        text = run.group().decode()
        if any(hit(bytes.fromhex(text[i:i + 2 * size]))
               for i in range(len(text) - 2 * size + 1)):
            found.append("hex")
            break
    unpadded = (size * 4 + 2) // 3
    for alphabet, decode, name in ((rb"A-Za-z0-9+/", base64.b64decode, "base64"),
                                   (rb"A-Za-z0-9_-", base64.urlsafe_b64decode, "base64url")):
        for run in re.finditer(rb"[%s]{%d,}" % (alphabet, unpadded), data):
            text = run.group()
            for i in range(len(text) - unpadded + 1):
                window = text[i:i + unpadded]
                try:
                    if hit(decode(window + b"=" * (-len(window) % 4))):
                        found.append(name)
                        break
                except (binascii.Error, ValueError):
                    continue
            if name in found:
                break
    return found


class Process:
    def __init__(self, args: list[str], log: pathlib.Path):
        self.log = log
        self.handle = open(log, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.handle,
                                     stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.handle.close()
        return self.proc.returncode


class KmsOnHost:
    """`cloak-kms init` in <workdir>/kms, then `serve` on 127.0.0.1 (any port) until stop()."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.binary = ctx.binary("cloak-kms")
        work = ctx.workdir
        self.dir, self.cloakctl_config = work / "kms", work / "cloakctl.yaml"
        self.ready, self.log = work / "kms.ready", work / "kms.log"
        run(ctx, [self.binary, "init", "--dir", str(self.dir), "--cloakctl-config",
                  str(self.cloakctl_config)], "cloak-kms init")
        self.process = Process([self.binary, "serve", "--config", str(self.dir / "kms.yaml"),
                                "--listen", "127.0.0.1:0", "--ready-file", str(self.ready),
                                "--log-level", "debug"], self.log)
        deadline = time.monotonic() + 30
        while not (self.ready.exists() and self.ready.read_text().endswith("\n")):
            if self.process.proc.poll() is not None or time.monotonic() > deadline:
                self.process.stop()
                ctx.fail(f"cloak-kms did not become ready:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.address = self.ready.read_text().strip()
        self.ca = self.dir / "ca.pem"

    def cloakctl(self) -> list[str]:
        return [self.ctx.binary("cloakctl"), "--config", str(self.cloakctl_config), "--kms",
                self.address]

    def stop(self) -> None:
        code = self.process.stop()
        if code not in (0, None):
            print(f"  host: cloak-kms exited with {code}", flush=True)


class HostSwtpm:
    """A swtpm on two free loopback ports, manufactured at first start in <workdir>/NAME."""

    def __init__(self, ctx, name: str = "host-tpm"):
        port = free_port_pair()
        state = ctx.workdir / name
        state.mkdir(exist_ok=True)
        self.process = Process(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                                "--flags", "not-need-init,startup-clear"],
                               ctx.workdir / f"{name}-swtpm.log")
        self.tcti = f"swtpm:host=127.0.0.1,port={port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.process.proc.poll() is not None or time.monotonic() > deadline:
                    ctx.fail(f"the host swtpm did not start; see {name}-swtpm.log")
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()


IDENTITY_SCRIPT = """
step "vTPM identity (the AK is created at its persistent handle on first use)"
out=$(kms_attest_tool identity --tcti device:/dev/tpmrm0) || fail "identity failed: $out"
echo "CLOAK-IDENTITY $out"
"""


def guest_identity(ctx, forwards, disks=(), pcrs=range(8)) -> dict:
    """Boots the guest once to read its vTPM's AK fingerprint and PCR values. Later boots
    must have the same devices: SeaBIOS measures option ROMs (the network card's iPXE)
    into PCR 2."""
    boot = ctx.boot(IDENTITY_SCRIPT, list(disks), binaries=["kms_attest_tool"], tpm=True,
                    forwards=forwards, label="identity", timeout=240)
    _, guest = marker(ctx, boot, "CLOAK-IDENTITY")
    if sorted(guest["pcrs"]) != sorted(str(i) for i in pcrs):
        ctx.fail(f"the guest quoted PCRs {sorted(guest['pcrs'])}, expected {list(pcrs)}")
    return guest


def tpm_policy(guest: dict, host: dict, pcr7_override: str | None = None,
               pcrs=range(8)) -> dict:
    """An attestation policy trusting two pinned AKs: the guest's vTPM as the node
    "vm-node", the host's swtpm as the controller "host-controller"; each PCR may hold the
    guest's or the host's value (PCR 7 only `pcr7_override`, when given)."""
    values = {}
    for index in pcrs:
        allowed = sorted({guest["pcrs"][str(index)], host["pcrs"][str(index)]})
        values[str(index)] = [pcr7_override] if index == 7 and pcr7_override else allowed
    return {
        "version": 1,
        "tpm": {"pcrs": values,
                "trusted_aks": sorted({guest["ak_fingerprint"], host["ak_fingerprint"]})},
        "rules": [
            {"name": "vm-node", "role": "node",
             "match": {"tee": ["tpm"], "ak_fingerprints": [guest["ak_fingerprint"]]}},
            {"name": "host-controller", "role": "controller",
             "match": {"tee": ["tpm"], "ak_fingerprints": [host["ak_fingerprint"]]}},
        ],
    }
