"""The attested key release end to end (DESIGN §6): a guest with its own vTPM attests to
cloak-kms on the host (TLS, through the restricted forward, no insecure flag) and
receives a volume key the controller (a host swtpm) created; with a policy whose PCR 7
value is wrong it is refused (PERMISSION_DENIED) and the refusal is audited. Invariant 1
for this path: neither the guest console nor the key service's log holds the DEK or the
session token in any common encoding.

Boot 1 reads the guest's AK fingerprint and PCR values (the AK is persisted in the vTPM
state, so later boots attest with it); the host writes the policy from them with
`cloakctl policy set`. Boot 2 fetches the key (its SHA-256 must equal that of the DEK the
host unwraps from the store with the file KEK); boot 3 fetches under the wrong policy."""

import base64
import binascii
import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

from harness.vm import Forward

DESCRIPTION = "vTPM guest attests to the host's cloak-kms: key released, wrong PCR 7 refused and audited"

VOLUME = "pvc-vm-attest"
GUEST_PORT = 7443
PCRS = range(8)
EXIT_PERMISSION_DENIED = 17  # kms_attest_tool: 10 + the status code

IDENTITY = """
step "vTPM identity (the AK is created at its persistent handle on first use)"
out=$(kms_attest_tool identity --tcti device:/dev/tpmrm0) || fail "identity failed: $out"
echo "CLOAK-IDENTITY $out"
"""

FETCH = f"""
printf '%s\\n' "$CLOAK_KMS_CA" > /tmp/kms-ca.pem
step "Challenge -> Attest (vTPM quote) -> GetVolumeKey at 10.0.2.100:{GUEST_PORT}"
rc=0
out=$(kms_attest_tool fetch --kms 10.0.2.100:{GUEST_PORT} --ca /tmp/kms-ca.pem \\
      --tcti device:/dev/tpmrm0 --volume {VOLUME}) || rc=$?
echo "CLOAK-FETCH rc=$rc $out"
[ "$rc" = "$CLOAK_EXPECT_RC" ] || fail "fetch exited with $rc, expected $CLOAK_EXPECT_RC"
"""


def _free_port_pair() -> int:
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


def _run(ctx, args: list[str], what: str, timeout: float = 120,
         ok_codes=(0,)) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if result.returncode not in ok_codes:
        ctx.fail(f"{what} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def _json_line(ctx, text: str, what: str) -> dict:
    lines = [l for l in text.splitlines() if l.startswith("{")]
    if not lines:
        ctx.fail(f"{what} printed no JSON: {text!r}")
    return json.loads(lines[-1])


def _marker(ctx, boot, marker: str) -> tuple[str, dict]:
    for line in boot.output:
        if line.startswith(marker + " "):
            rest = line[len(marker) + 1:]
            prefix, _, payload = rest.partition("{")
            return prefix.strip(), json.loads("{" + payload)
    ctx.fail(f"{boot.log.name}: no {marker} line on the console")


def _encodings_found(data: bytes, sha256_hex: str, size: int) -> list[str]:
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


class _Process:
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


def _details(entry: dict) -> dict:
    return entry.get("details") or {}


def _policy(guest: dict, host: dict, pcr7_override: str | None = None) -> dict:
    pcrs = {}
    for index in PCRS:
        values = sorted({guest["pcrs"][str(index)], host["pcrs"][str(index)]})
        pcrs[str(index)] = [pcr7_override] if index == 7 and pcr7_override else values
    return {
        "version": 1,
        "tpm": {"pcrs": pcrs,
                "trusted_aks": sorted({guest["ak_fingerprint"], host["ak_fingerprint"]})},
        "rules": [
            {"name": "vm-node", "role": "node",
             "match": {"tee": ["tpm"], "ak_fingerprints": [guest["ak_fingerprint"]]}},
            {"name": "host-controller", "role": "controller",
             "match": {"tee": ["tpm"], "ak_fingerprints": [host["ak_fingerprint"]]}},
        ],
    }


def run(ctx):
    kms_bin = ctx.binary("cloak-kms")
    cloakctl = ctx.binary("cloakctl")
    tool = ctx.binary("kms_attest_tool")
    work = ctx.workdir
    kms_dir, cloakctl_config = work / "kms", work / "cloakctl.yaml"
    ready, kms_log = work / "kms.ready", work / "kms.log"
    _run(ctx, [kms_bin, "init", "--dir", str(kms_dir), "--cloakctl-config", str(cloakctl_config)],
         "cloak-kms init")
    kms = _Process([kms_bin, "serve", "--config", str(kms_dir / "kms.yaml"), "--listen",
                    "127.0.0.1:0", "--ready-file", str(ready), "--log-level", "debug"], kms_log)
    swtpm = None
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text().endswith("\n")):
            if kms.proc.poll() is not None or time.monotonic() > deadline:
                ctx.fail(f"cloak-kms did not become ready:\n{kms_log.read_text()}")
            time.sleep(0.05)
        address = ready.read_text().strip()
        admin = [cloakctl, "--config", str(cloakctl_config), "--kms", address]

        # The controller's TPM: a swtpm on the host, manufactured at first start.
        port = _free_port_pair()
        (work / "host-tpm").mkdir()
        swtpm = _Process(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={work / 'host-tpm'}",
                          "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                          "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                          "--flags", "not-need-init,startup-clear"], work / "host-swtpm.log")
        host_tcti = f"swtpm:host=127.0.0.1,port={port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if swtpm.proc.poll() is not None or time.monotonic() > deadline:
                    ctx.fail("the host swtpm did not start; see host-swtpm.log")
                time.sleep(0.05)
        host = _json_line(ctx, _run(ctx, [tool, "identity", "--tcti", host_tcti],
                                    "host identity").stdout, "host identity")

        # Every boot has the same devices: SeaBIOS measures option ROMs (iPXE of the
        # network card) into PCR 2, so a boot without the forward quotes another PCR 2.
        forwards = [Forward(GUEST_PORT, f"tcp:{address}")]
        boot1 = ctx.boot(IDENTITY, [], binaries=["kms_attest_tool"], tpm=True, forwards=forwards,
                         label="identity", timeout=240)
        _, guest = _marker(ctx, boot1, "CLOAK-IDENTITY")
        if sorted(guest["pcrs"]) != sorted(str(i) for i in PCRS):
            ctx.fail(f"the guest quoted PCRs {sorted(guest['pcrs'])}, expected 0..7")
        print(f"  host: guest AK {guest['ak_fingerprint'][:16]}…, controller AK "
              f"{host['ak_fingerprint'][:16]}…", flush=True)

        policy_file = work / "policy.json"
        policy_file.write_text(json.dumps(_policy(guest, host), indent=2))
        _run(ctx, admin + ["policy", "set", str(policy_file)], "cloakctl policy set")

        created = _json_line(ctx, _run(ctx, [tool, "create", "--kms", address, "--ca",
                                             str(kms_dir / "ca.pem"), "--tcti", host_tcti,
                                             "--volume", VOLUME], "create").stdout, "create")
        if created.get("key_version") != 1 or not created.get("identity", "").startswith(
                "controller/host-controller@"):
            ctx.fail(f"unexpected create answer: {created}")

        env = {"CLOAK_KMS_CA": (kms_dir / "ca.pem").read_text().strip(), "CLOAK_EXPECT_RC": "0"}
        boot2 = ctx.boot(FETCH, [], binaries=["kms_attest_tool"], tpm=True, forwards=forwards,
                         env=env, label="fetch", timeout=240)
        _, fetched = _marker(ctx, boot2, "CLOAK-FETCH")
        stored = _json_line(ctx, _run(ctx, [tool, "store-dek", "--store", str(kms_dir / "store.db"),
                                            "--kek", str(kms_dir / "kek.bin"), "--volume",
                                            VOLUME], "store-dek").stdout, "store-dek")
        if fetched.get("dek_sha256") != stored["dek_sha256"] or fetched.get("key_version") != 1:
            ctx.fail(f"the guest's key differs from the stored one: guest {fetched}, "
                     f"store {stored}")
        node_identity = f"node/vm-node@{guest['ak_fingerprint'][:16]}"
        if fetched.get("identity") != node_identity:
            ctx.fail(f"the guest attested as {fetched.get('identity')}, expected {node_identity}")
        print(f"  host: the guest's DEK ({stored['dek_bytes']} bytes) equals the stored one "
              f"(SHA-256 {stored['dek_sha256'][:16]}…)", flush=True)

        wrong = hashlib.sha256(b"not the guest's PCR 7").hexdigest()
        policy_file.write_text(json.dumps(_policy(guest, host, pcr7_override=wrong), indent=2))
        _run(ctx, admin + ["policy", "set", str(policy_file)], "cloakctl policy set (wrong PCR 7)")
        env["CLOAK_EXPECT_RC"] = str(EXIT_PERMISSION_DENIED)
        boot3 = ctx.boot(FETCH, [], binaries=["kms_attest_tool"], tpm=True, forwards=forwards,
                         env=env, label="refused", timeout=240)
        _, refused = _marker(ctx, boot3, "CLOAK-FETCH")
        if refused.get("error", {}).get("code") != "PERMISSION_DENIED":
            ctx.fail(f"expected PERMISSION_DENIED, the guest got {refused}")
        print(f"  guest: refused: {refused['error']['message'][:160]}", flush=True)

        audit = json.loads(_run(ctx, admin + ["-o", "json", "audit", "list", "--limit", "1000"],
                                "cloakctl audit list").stdout)["entries"]
        attests = [e for e in audit if e["action"] == "Attest"]
        if not any(e["actor"] == node_identity and e["outcome"] == "ok" for e in attests):
            ctx.fail(f"no successful Attest by {node_identity} in the audit: {attests}")
        if not any(e["action"] == "GetVolumeKey" and e["volume_id"] == VOLUME and
                   e["actor"] == node_identity and e["outcome"] == "ok" for e in audit):
            ctx.fail(f"no audited release of {VOLUME} to {node_identity}")
        release = max(e["sequence"] for e in audit if e["action"] == "GetVolumeKey" and
                      e["volume_id"] == VOLUME and e["outcome"] == "ok")
        denied = [e for e in attests if e["sequence"] > release and
                  e["outcome"].lower() in ("permission_denied", "denied") and
                  _details(e).get("tee") == "tpm"]
        if len(denied) != 1:
            ctx.fail(f"expected one refused TPM Attest after the release, got {denied}")
        # The refused guest is named by what the service knows of it: the evidence verified
        # and only the policy refused it, so the entry carries its AK fingerprint.
        named = _details(denied[0]).get("ak_fingerprint")
        if named != guest["ak_fingerprint"]:
            ctx.fail(f"the refusal names AK {named}, not the guest's {guest['ak_fingerprint']}")
        print(f"  host: audited refusal #{denied[0]['sequence']}: actor {denied[0]['actor']}, "
              f"outcome {denied[0]['outcome']}, details {_details(denied[0])}", flush=True)

        # Invariant 1 on this path: the DEK and the session token are in no log.
        secrets = {"DEK": (fetched["dek_sha256"], fetched["dek_bytes"]),
                   "session token": (fetched["token_sha256"], fetched["token_bytes"])}
        probe = os.urandom(64)
        planted = b"raw " + probe + b" hex " + probe.hex().upper().encode() + b" b64 " + \
            base64.urlsafe_b64encode(probe).rstrip(b"=")
        if _encodings_found(planted, hashlib.sha256(probe).hexdigest(), 64) != \
                ["raw", "hex", "base64url"]:
            ctx.fail("the log scan does not find a planted secret")
        logs = [boot.log for boot in ctx.boots] + [kms_log]
        for log in logs:
            data = log.read_bytes()
            for name, (digest, size) in secrets.items():
                found = _encodings_found(data, digest, size)
                if found:
                    ctx.fail(f"{log} holds the {name} ({', '.join(found)})")
        print(f"  host: DEK and session token absent from {len(logs)} logs "
              "(raw, hex, base64, base64url)", flush=True)
    finally:
        if swtpm is not None:
            swtpm.stop()
        code = kms.stop()
        if code not in (0, None):
            print(f"  host: cloak-kms exited with {code}", flush=True)
