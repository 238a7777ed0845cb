"""The node plugin end to end (DESIGN §4): cloak-csi --mode node runs in the guest with its
vTPM and the local backend; the key service runs on the host (SQLite, file KEK, a policy
naming the guest's AK and PCRs); the host's swtpm plays the controller and creates the
volume keys. A CSI client in the guest drives, per volume:
stage -> publish -> write a canary -> unpublish -> unstage -> stage again (twice: the
second is a no-op) -> publish -> read the canary back -> stats -> unpublish -> unstage,
for ext4 and xfs filesystems, a raw block volume, and an ext4 volume with dm-integrity
(hmac-sha256). The ext4 volume is also expanded online after its backing file grew. The
integrity volume's backing file then has one byte flipped while it is unstaged: restaged,
a read through the mapping fails with EIO and NodeGetVolumeStats reports it abnormal.

Afterwards nothing is left attached (no mapping, no loop device, no state record), the
host finds the canary nowhere in the disk image holding the backing files (invariant 3),
and no DEK appears in the guest console, which carries the node plugin's log (invariant 1).
"""

import json
import os

from harness.services import (HostSwtpm, KmsOnHost, encodings_found, guest_identity, json_line,
                              tpm_policy)
from harness.services import run as run_tool
from harness.vm import Forward

DESCRIPTION = ("node plugin in the guest: stage/publish/restage ext4, xfs, block and integrity "
               "volumes against the host's cloak-kms; expand; tamper -> EIO and abnormal")

GUEST_PORT = 7443
# volume id -> (integrity, size of the backing file in MiB). xfs needs 300 MB or more.
VOLUMES = {
    "pvc-ext4": ("none", 64),
    "pvc-xfs": ("none", 320),
    "pvc-block": ("none", 64),
    "pvc-integ": ("hmac-sha256", 64),
}

SCRIPT = r"""
step "local backend: an ext4 disk that holds the backing files"
mkfs.ext4 -q -F "$CLOAK_DISK_LOCAL"
mkdir -p /local
mount "$CLOAK_DISK_LOCAL" /local
for spec in $CLOAK_VOLUMES; do
  dd if=/dev/zero of="/local/${spec%%:*}.img" bs=1 count=0 seek=$((${spec#*:} * 1048576)) \
    2>/dev/null || fail "backing file $spec"
done

printf '%s\n' "$CLOAK_KMS_CA" > /tmp/kms-ca.pem
mkdir -p /var/lib/cloak /csi /staging /pods
step "starting cloak-csi --mode node (vTPM attester, key service at 10.0.2.100:7443)"
cloak-csi --endpoint unix:///csi/csi.sock --mode node --node-id vm-node \
  --state-dir /var/lib/cloak --local-dir /local --kms-address 10.0.2.100:7443 \
  --kms-ca-file /tmp/kms-ca.pem --kms-server-name localhost --attester tpm \
  --log-format json 2>/tmp/node.log &
i=0
while [ ! -S /csi/csi.sock ]; do
  i=$((i + 1))
  [ "$i" -le 600 ] || { cat /tmp/node.log; fail "the node plugin did not listen"; }
  sleep 0.1
done

csi() { cloak-csi-client --endpoint unix:///csi/csi.sock --timeout 900 node "$@"; }
FS_EXT4='{"mount":{"fs_type":"ext4"},"access_mode":{"mode":"SINGLE_NODE_WRITER"}}'
FS_XFS='{"mount":{"fs_type":"xfs"},"access_mode":{"mode":"SINGLE_NODE_WRITER"}}'
BLOCK='{"block":{},"access_mode":{"mode":"SINGLE_NODE_WRITER"}}'
stage() {
  mkdir -p "/staging/$1"
  csi stage "{\"volume_id\":\"$1\",\"staging_target_path\":\"/staging/$1\",\"volume_capability\":$2}" \
    >/dev/null || fail "NodeStageVolume $1"
}
unstage() {
  csi unstage "{\"volume_id\":\"$1\",\"staging_target_path\":\"/staging/$1\"}" >/dev/null ||
    fail "NodeUnstageVolume $1"
}
publish() {
  mkdir -p "/pods/$1"
  csi publish "{\"volume_id\":\"$1\",\"staging_target_path\":\"/staging/$1\",\"target_path\":\"/pods/$1/vol\",\"volume_capability\":$2}" \
    >/dev/null || fail "NodePublishVolume $1"
}
unpublish() {
  csi unpublish "{\"volume_id\":\"$1\",\"target_path\":\"/pods/$1/vol\"}" >/dev/null ||
    fail "NodeUnpublishVolume $1"
}
stats() { csi stats "{\"volume_id\":\"$1\",\"volume_path\":\"$2\"}"; }
total_bytes() {  # VOLUME PATH: NodeGetVolumeStats' total bytes
  stats "$1" "$2" | sed -n 's/.*"total":"\([0-9]*\)","used":"[0-9]*","unit":"BYTES".*/\1/p'
}
attached() { dmsetup ls 2>/dev/null | grep -c "cloak-$1" || true; }

write_canary() {  # VOLUME: a file on filesystems, the first 4 KiB on block volumes
  if [ "$2" = block ]; then
    { printf '%s %s\n' "$CLOAK_CANARY" "$1"; dd if=/dev/zero bs=4000 count=1 2>/dev/null; } |
      head -c 4096 | dd of="/pods/$1/vol" bs=4096 count=1 conv=fsync 2>/dev/null ||
      fail "writing the canary to $1"
  else
    printf '%s %s\n' "$CLOAK_CANARY" "$1" > "/pods/$1/vol/canary"
    sync
  fi
}
read_canary() {
  if [ "$2" = block ]; then
    dd if="/pods/$1/vol" bs=4096 count=1 2>/dev/null | head -n 1
  else
    cat "/pods/$1/vol/canary"
  fi
}

cycle() {  # VOLUME CAPABILITY KIND
  step "$1 ($3): stage, publish, write the canary, unpublish, unstage"
  stage "$1" "$2"
  publish "$1" "$2"
  write_canary "$1" "$3"
  unpublish "$1"
  unstage "$1"
  [ "$(attached "$1")" = 0 ] || fail "$1: mapping left after unstage"
  step "$1: stage again (twice), publish, read the canary back, stats"
  stage "$1" "$2"
  stage "$1" "$2"
  publish "$1" "$2"
  [ "$(read_canary "$1" "$3")" = "$CLOAK_CANARY $1" ] || fail "$1: the canary did not come back"
  out=$(stats "$1" "/pods/$1/vol") || fail "NodeGetVolumeStats $1"
  echo "$out" | grep -q '"abnormal":false' || fail "$1: stats $out"
  echo "$out" | grep -q '"unit":"BYTES"' || fail "$1: stats without bytes: $out"
  echo "CLOAK-STATS $1 $out"
}

cycle pvc-ext4 "$FS_EXT4" fs
step "pvc-ext4: the backing file grows to 96 MiB; NodeExpandVolume grows crypt and ext4 online"
before=$(total_bytes pvc-ext4 /pods/pvc-ext4/vol)
dd if=/dev/zero of=/local/pvc-ext4.img bs=1 count=0 seek=$((96 * 1048576)) 2>/dev/null
out=$(csi expand '{"volume_id":"pvc-ext4","volume_path":"/staging/pvc-ext4","capacity_range":{"required_bytes":"80000000"}}') ||
  fail "NodeExpandVolume pvc-ext4"
after=$(total_bytes pvc-ext4 /pods/pvc-ext4/vol)
echo "CLOAK-EXPAND $out filesystem bytes $before -> $after"
[ -n "$before" ] && [ -n "$after" ] || fail "no byte totals from NodeGetVolumeStats"
[ "$after" -gt $((before + 20000000)) ] || fail "ext4 did not grow: $before -> $after bytes"
[ "$(read_canary pvc-ext4 fs)" = "$CLOAK_CANARY pvc-ext4" ] || fail "canary lost by the expand"
unpublish pvc-ext4
unstage pvc-ext4

cycle pvc-xfs "$FS_XFS" fs
unpublish pvc-xfs
unstage pvc-xfs

cycle pvc-block "$BLOCK" block
unpublish pvc-block
unstage pvc-block

cycle pvc-integ "$FS_EXT4" fs
# Formatting, tag initialisation, mkfs and use never read a sector that was not written.
if dmesg | grep -q "INTEGRITY AEAD ERROR"; then
  fail "an unwritten sector was read: $(dmesg | grep 'INTEGRITY AEAD ERROR' | head -n 3)"
fi
unpublish pvc-integ
unstage pvc-integ
step "pvc-integ: one ciphertext byte flipped in the backing file while unstaged"
offset=$((40 * 1048576 + 123))
byte=$(dd if=/local/pvc-integ.img bs=1 skip=$offset count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(( (byte ^ 1) & 255 )))" |
  dd of=/local/pvc-integ.img bs=1 seek=$offset count=1 conv=notrunc 2>/dev/null
sync
stage pvc-integ "$FS_EXT4"
if dd if=/dev/mapper/cloak-pvc-integ of=/dev/null bs=1M iflag=direct 2>/tmp/dd.err; then
  fail "reading the tampered volume succeeded"
fi
# dm-crypt fails the bio with BLK_STS_PROTECTION: EILSEQ for this direct read, EIO for
# reads through the page cache; either way the tampered sector never reaches the reader.
grep -q "Input/output error\|Invalid or incomplete multibyte" /tmp/dd.err ||
  fail "not an integrity error: $(cat /tmp/dd.err)"
echo "CLOAK-EIO $(tail -n 1 /tmp/dd.err)"
dmesg | grep -q "INTEGRITY AEAD ERROR" || fail "the kernel logged no integrity error"
out=$(stats pvc-integ /staging/pvc-integ) || fail "NodeGetVolumeStats after the tamper"
echo "CLOAK-STATS-TAMPERED $out"
echo "$out" | grep -q '"abnormal":true' || fail "the tampered volume is not reported abnormal"
unstage pvc-integ

step "nothing left behind"
[ -z "$(dmsetup ls 2>/dev/null | grep cloak- || true)" ] || fail "mappings left: $(dmsetup ls)"
[ -z "$(losetup -a)" ] || fail "loop devices left: $(losetup -a)"
[ -z "$(ls /var/lib/cloak/volumes)" ] || fail "state records left: $(ls /var/lib/cloak/volumes)"
kill -TERM %1 2>/dev/null || kill -TERM $(pidof cloak-csi)
wait || true
echo "== node plugin log"
cat /tmp/node.log
umount /local
sync
"""


def run(ctx):
    tool = ctx.binary("kms_attest_tool")
    for program in ("cloak-csi", "cloak-csi-client"):
        ctx.binary(program)  # fails the scenario, never skips, when not built
    kms = KmsOnHost(ctx)
    swtpm = None
    try:
        swtpm = HostSwtpm(ctx)
        host = json_line(ctx, run_tool(ctx, [tool, "identity", "--tcti", swtpm.tcti],
                                       "host identity").stdout, "host identity")
        local = ctx.disk("local", "1G")
        forwards = [Forward(GUEST_PORT, f"tcp:{kms.address}")]
        guest = guest_identity(ctx, forwards, disks=[local])
        policy_file = ctx.workdir / "policy.json"
        policy_file.write_text(json.dumps(tpm_policy(guest, host), indent=2))
        run_tool(ctx, kms.cloakctl() + ["policy", "set", str(policy_file)], "cloakctl policy set")
        for volume, (integrity, _) in VOLUMES.items():
            run_tool(ctx, [tool, "create", "--kms", kms.address, "--ca", str(kms.ca), "--tcti",
                           swtpm.tcti, "--volume", volume, "--integrity", integrity],
                     f"create {volume}")

        canary = "cloak-canary-" + os.urandom(12).hex()
        env = {"CLOAK_KMS_CA": kms.ca.read_text().strip(), "CLOAK_CANARY": canary,
               "CLOAK_VOLUMES": " ".join(f"{v}:{size}" for v, (_, size) in VOLUMES.items())}
        boot = ctx.boot(SCRIPT, [local], binaries=["cloak-csi", "cloak-csi-client"], tpm=True,
                        forwards=forwards, env=env, label="node", timeout=1200)
        for line in boot.output:
            if line.startswith(("CLOAK-EXPAND", "CLOAK-EIO", "CLOAK-STATS-TAMPERED")):
                print(f"  guest: {line[:200]}", flush=True)

        # Invariant 3: the disk that holds the backing files has only ciphertext.
        image = local.path.read_bytes()
        if canary.encode() in image:
            ctx.fail(f"the canary is in plaintext in {local.path}")
        print(f"  host: the canary is absent from the {len(image) >> 20} MiB backing disk",
              flush=True)

        # Invariant 1: no DEK in the guest console (which holds the node plugin's log).
        console = boot.log.read_bytes()
        for volume in VOLUMES:
            stored = json_line(ctx, run_tool(ctx, [tool, "store-dek", "--store",
                                                   str(kms.dir / "store.db"), "--kek",
                                                   str(kms.dir / "kek.bin"), "--volume", volume],
                                             f"store-dek {volume}").stdout, "store-dek")
            found = encodings_found(console, stored["dek_sha256"], stored["dek_bytes"])
            if found:
                ctx.fail(f"the guest console holds the DEK of {volume} ({', '.join(found)})")
        print(f"  host: no DEK of the {len(VOLUMES)} volumes in the guest console", flush=True)

        # Every release went to the attested node, and each volume was reported formatted.
        audit = json.loads(run_tool(ctx, kms.cloakctl() + ["-o", "json", "audit", "list",
                                                           "--limit", "1000"],
                                    "cloakctl audit list").stdout)["entries"]
        node_identity = f"node/vm-node@{guest['ak_fingerprint'][:16]}"
        for volume in VOLUMES:
            releases = [e for e in audit if e["action"] == "GetVolumeKey" and
                        e["volume_id"] == volume and e["outcome"] == "ok"]
            if not releases or any(e["actor"] != node_identity for e in releases):
                ctx.fail(f"releases of {volume}: {releases}")
            if not any(e["action"] == "ReportVolumeState" and e["volume_id"] == volume and
                       e["outcome"] == "ok" for e in audit):
                ctx.fail(f"{volume} was never reported formatted: "
                         f"{[e for e in audit if e['volume_id'] == volume]}")
        print(f"  host: {sum(e['action'] == 'GetVolumeKey' for e in audit)} audited key "
              f"releases, all to {node_identity}", flush=True)
    finally:
        if swtpm is not None:
            swtpm.stop()
        kms.stop()
