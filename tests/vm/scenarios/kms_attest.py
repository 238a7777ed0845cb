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
import hashlib
import json
import os

from harness.services import (HostSwtpm, KmsOnHost, encodings_found, guest_identity, json_line,
                              marker, tpm_policy)
from harness.services import run as run_tool
from harness.vm import Forward

DESCRIPTION = "vTPM guest attests to the host's cloak-kms: key released, wrong PCR 7 refused and audited"

VOLUME = "pvc-vm-attest"
GUEST_PORT = 7443
PCRS = range(8)
EXIT_PERMISSION_DENIED = 17  # kms_attest_tool: 10 + the status code

FETCH = f"""
printf '%s\\n' "$CLOAK_KMS_CA" > /tmp/kms-ca.pem
step "Challenge -> Attest (vTPM quote) -> GetVolumeKey at 10.0.2.100:{GUEST_PORT}"
rc=0
out=$(kms_attest_tool fetch --kms 10.0.2.100:{GUEST_PORT} --ca /tmp/kms-ca.pem \\
      --tcti device:/dev/tpmrm0 --volume {VOLUME}) || rc=$?
echo "CLOAK-FETCH rc=$rc $out"
[ "$rc" = "$CLOAK_EXPECT_RC" ] || fail "fetch exited with $rc, expected $CLOAK_EXPECT_RC"
"""


def _details(entry: dict) -> dict:
    return entry.get("details") or {}


def run(ctx):
    tool = ctx.binary("kms_attest_tool")
    work = ctx.workdir
    kms = KmsOnHost(ctx)
    swtpm = None
    try:
        address, kms_dir, kms_log = kms.address, kms.dir, kms.log
        admin = kms.cloakctl()

        # The controller's TPM: a swtpm on the host, manufactured at first start.
        swtpm = HostSwtpm(ctx)
        host_tcti = swtpm.tcti
        host = json_line(ctx, run_tool(ctx, [tool, "identity", "--tcti", host_tcti],
                                  "host identity").stdout, "host identity")
        # Every boot has the same devices (see guest_identity).
        forwards = [Forward(GUEST_PORT, f"tcp:{address}")]
        guest = guest_identity(ctx, forwards, pcrs=PCRS)
        print(f"  host: guest AK {guest['ak_fingerprint'][:16]}…, controller AK "
              f"{host['ak_fingerprint'][:16]}…", flush=True)

        policy_file = work / "policy.json"
        policy_file.write_text(json.dumps(tpm_policy(guest, host), indent=2))
        run_tool(ctx, admin + ["policy", "set", str(policy_file)], "cloakctl policy set")

        created = json_line(ctx, run_tool(ctx, [tool, "create", "--kms", address, "--ca",
                                             str(kms_dir / "ca.pem"), "--tcti", host_tcti,
                                             "--volume", VOLUME], "create").stdout, "create")
        if created.get("key_version") != 1 or not created.get("identity", "").startswith(
                "controller/host-controller@"):
            ctx.fail(f"unexpected create answer: {created}")

        env = {"CLOAK_KMS_CA": (kms_dir / "ca.pem").read_text().strip(), "CLOAK_EXPECT_RC": "0"}
        boot2 = ctx.boot(FETCH, [], binaries=["kms_attest_tool"], tpm=True, forwards=forwards,
                         env=env, label="fetch", timeout=240)
        _, fetched = marker(ctx, boot2, "CLOAK-FETCH")
        stored = json_line(ctx, run_tool(ctx, [tool, "store-dek", "--store", str(kms_dir / "store.db"),
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
        policy_file.write_text(json.dumps(tpm_policy(guest, host, pcr7_override=wrong), indent=2))
        run_tool(ctx, admin + ["policy", "set", str(policy_file)], "cloakctl policy set (wrong PCR 7)")
        env["CLOAK_EXPECT_RC"] = str(EXIT_PERMISSION_DENIED)
        boot3 = ctx.boot(FETCH, [], binaries=["kms_attest_tool"], tpm=True, forwards=forwards,
                         env=env, label="refused", timeout=240)
        _, refused = marker(ctx, boot3, "CLOAK-FETCH")
        if refused.get("error", {}).get("code") != "PERMISSION_DENIED":
            ctx.fail(f"expected PERMISSION_DENIED, the guest got {refused}")
        print(f"  guest: refused: {refused['error']['message'][:160]}", flush=True)

        audit = json.loads(run_tool(ctx, admin + ["-o", "json", "audit", "list", "--limit", "1000"],
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
        # (A base64url text without '-' or '_' is valid base64 too, so more may be found.)
        if not {"raw", "hex", "base64url"} <= set(
                encodings_found(planted, hashlib.sha256(probe).hexdigest(), 64)):
            ctx.fail("the log scan does not find a planted secret")
        logs = [boot.log for boot in ctx.boots] + [kms_log]
        for log in logs:
            data = log.read_bytes()
            for name, (digest, size) in secrets.items():
                found = encodings_found(data, digest, size)
                if found:
                    ctx.fail(f"{log} holds the {name} ({', '.join(found)})")
        print(f"  host: DEK and session token absent from {len(logs)} logs "
              "(raw, hex, base64, base64url)", flush=True)
    finally:
        if swtpm is not None:
            swtpm.stop()
        kms.stop()
