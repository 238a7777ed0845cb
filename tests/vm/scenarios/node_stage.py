"""The node plugin end to end (DESIGN §4): cloak-csi --mode node runs in the guest with its
vTPM and the local backend; the key service runs on the host (SQLite, file KEK, a policy
naming the guest's AK and PCRs); the host's swtpm plays the controller and creates the
volume keys. A CSI client in the guest drives, per volume:
stage -> publish -> write a canary -> unpublish -> unstage -> stage again (twice: the
second is a no-op) -> publish -> read the canary back -> stats, for ext4 and xfs
filesystems and a raw block volume, each without integrity and with dm-integrity
(hmac-sha256). The ext4 volume is also expanded online after its backing file grew. With
all six volumes staged and published, the guest prints its node state directory (the
state records) on the console as an archive; then every volume is unpublished and
unstaged. The ext4 integrity volume's backing file then has one byte flipped while it is
unstaged: restaged, a read through the mapping fails with EIO and NodeGetVolumeStats
reports it abnormal.

Afterwards nothing is left attached (no mapping, no loop device, no state record). The
host unwraps each volume's DEK from the key service's store (checked against the digest
kms_attest_tool computes) and finds neither the canary nor any DEK, raw, hex or base64,
in the disk image holding the backing files (invariant 3); no DEK appears in the state
records or in the guest console, which carries the node plugin's log (invariant 1).
"""

import hashlib
import io
import json
import os
import pathlib
import tarfile

from harness.key_scan import (check_scan_finds_planted_key, console_archive, key_encodings,
                              store_deks)
from harness.node_guest import NODE_GUEST_LIB, NodeHost, staged_entries, step_times
from harness.services import encodings_found, json_line
from harness.services import run as run_tool
from harness.util import scan_file

DESCRIPTION = ("node plugin in the guest: stage/publish/restage ext4, xfs and block volumes, "
               "without and with hmac-sha256, against the host's cloak-kms; expand; tamper -> "
               "EIO and abnormal; no DEK in the image, the state records or the console")

# volume id -> (integrity, size of the backing file in MiB). xfs needs 300 MB or more of
# usable space, and an integrity volume also holds its tags and journal. No id is a prefix
# of another (the guest finds mappings by name).
VOLUMES = {
    "pvc-ext4": ("none", 64),
    "pvc-xfs": ("none", 320),
    "pvc-block": ("none", 64),
    "pvc-integ": ("hmac-sha256", 64),
    "pvc-hmac-xfs": ("hmac-sha256", 336),
    "pvc-hmac-block": ("hmac-sha256", 64),
}

SCRIPT = NODE_GUEST_LIB + r"""
setup_local
step "starting cloak-csi --mode node (vTPM attester, key service at 10.0.2.100:7443)"
start_plugin
out=$(cloak-csi-client --endpoint unix:///csi/csi.sock probe) || fail "Probe failed"
echo "$out" | grep -q '"ready":true' || fail "Probe says not ready: $out; $(tail -n 3 /tmp/node.log)"

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

cycle pvc-xfs "$FS_XFS" fs
cycle pvc-block "$BLOCK" block
step "pvc-block: a read-only publish beside the writable one reads the data and refuses writes"
mkdir -p /pods/pvc-block-ro
RO_TARGET='"volume_id":"pvc-block","target_path":"/pods/pvc-block-ro/vol"'
csi publish "{$RO_TARGET,\"staging_target_path\":\"/staging/pvc-block\",\"volume_capability\":$BLOCK,\"readonly\":true}" \
  >/dev/null || fail "read-only NodePublishVolume pvc-block"
views=$(dmsetup ls 2>/dev/null | grep -c "^cloakro-[0-9a-f]*-pvc-block" || true)
[ "$views" = 1 ] || fail "expected one read-only view, found: $(dmsetup ls)"
[ "$(read_canary pvc-block-ro block)" = "$CLOAK_CANARY pvc-block" ] ||
  fail "the canary does not read back through the read-only publish"
if printf 'overwritten' | dd of=/pods/pvc-block-ro/vol bs=4096 conv=notrunc,fsync 2>/tmp/ro.err; then
  fail "a write through the read-only publish succeeded"
fi
grep -q "Operation not permitted\|Read-only file system\|Permission denied" /tmp/ro.err ||
  fail "the write failed, but not as a read-only refusal: $(cat /tmp/ro.err)"
echo "CLOAK-RO-WRITE $(grep -v records /tmp/ro.err | head -n 1)"
# Dirty pages of a writable shared mapping, which write(2)'s check does not see.
if crypt_vm_tool mmap-write /pods/pvc-block-ro/vol overwritten >/tmp/ro.mmap 2>&1; then
  fail "a writable shared mapping of the read-only publish was allowed"
fi
echo "CLOAK-RO-MMAP $(cat /tmp/ro.mmap)"
echo 3 > /proc/sys/vm/drop_caches
[ "$(dd if=/pods/pvc-block/vol bs=4096 count=1 iflag=direct 2>/dev/null | head -n 1)" = \
  "$CLOAK_CANARY pvc-block" ] || fail "a write through the read-only publish reached the volume"
step "pvc-block: the backing file grows by 16 MiB; NodeExpandVolume grows the mapping and its read-only view"
before=$(blockdev --getsize64 /pods/pvc-block-ro/vol)
dd if=/dev/zero of=/local/pvc-block.img bs=1 count=0 seek=$((80 * 1048576)) 2>/dev/null
csi expand '{"volume_id":"pvc-block","volume_path":"/pods/pvc-block-ro/vol"}' >/dev/null ||
  fail "NodeExpandVolume pvc-block"
after=$(blockdev --getsize64 /pods/pvc-block-ro/vol)
echo "CLOAK-EXPAND-RO view bytes $before -> $after"
[ "$after" = $((before + 16 * 1048576)) ] || fail "the read-only view did not grow: $before -> $after"
[ "$after" = "$(blockdev --getsize64 /pods/pvc-block/vol)" ] ||
  fail "the view and the volume differ in size after the expand"
csi unpublish "{$RO_TARGET}" >/dev/null || fail "read-only NodeUnpublishVolume pvc-block"
[ -z "$(dmsetup ls 2>/dev/null | grep '^cloakro-' || true)" ] ||
  fail "the read-only view outlived its unpublish: $(dmsetup ls)"
cycle pvc-integ "$FS_EXT4" fs
cycle pvc-hmac-xfs "$FS_XFS" fs
cycle pvc-hmac-block "$BLOCK" block
# Formatting, tag initialisation, mkfs and use never read a sector that was not written.
if dmesg | grep -q "INTEGRITY AEAD ERROR"; then
  fail "an unwritten sector was read: $(dmesg | grep 'INTEGRITY AEAD ERROR' | head -n 3)"
fi

step "the node state directory while all six volumes are staged and published"
records=$(ls /var/lib/cloak/volumes | wc -l)
[ "$records" = 6 ] || fail "expected 6 state records, found: $(ls /var/lib/cloak/volumes)"
tar -czf /tmp/state.tgz -C /var/lib/cloak .
echo "CLOAK-STATE-BEGIN $(sha256sum /tmp/state.tgz | cut -d' ' -f1)"
base64 /tmp/state.tgz
echo "CLOAK-STATE-END"
for volume in pvc-ext4 pvc-xfs pvc-block pvc-integ pvc-hmac-xfs pvc-hmac-block; do
  unpublish $volume
  unstage $volume
  [ "$(attached $volume)" = 0 ] || fail "$volume: mapping left after unstage"
done

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
[ -z "$(dmsetup ls 2>/dev/null | grep cloak || true)" ] || fail "mappings left: $(dmsetup ls)"
[ -z "$(losetup -a)" ] || fail "loop devices left: $(losetup -a)"
[ -z "$(ls /var/lib/cloak/volumes)" ] || fail "state records left: $(ls /var/lib/cloak/volumes)"
stop_plugin
echo "== node plugin log"
cat /tmp/node.log
umount /local
sync
"""


def run(ctx):
    host = NodeHost(ctx, {volume: integrity for volume, (integrity, _) in VOLUMES.items()})
    kms, local, forwards = host.kms, host.local, host.forwards
    tool = ctx.binary("kms_attest_tool")
    try:
        canary = "cloak-canary-" + os.urandom(12).hex()
        env = {"CLOAK_KMS_CA": kms.ca.read_text().strip(), "CLOAK_CANARY": canary,
               "CLOAK_VOLUMES": " ".join(f"{v}:{size}" for v, (_, size) in VOLUMES.items())}
        boot = ctx.boot(SCRIPT, [local], binaries=["cloak-csi", "cloak-csi-client", "crypt_vm_tool"], tpm=True,
                        forwards=forwards, env=env, label="node", timeout=1200)
        for line in boot.output:
            if line.startswith(("CLOAK-EXPAND", "CLOAK-EIO", "CLOAK-STATS-TAMPERED")):
                print(f"  guest: {line[:200]}", flush=True)
        # NodeStageVolume's step times (docs/benchmarks.md), from the node plugin's log.
        for entry in staged_entries(boot.output):
            print(f"  stage {entry['volume_id']}: total {entry['total_ms']} ms "
                  f"({step_times(entry)})", flush=True)

        # The DEKs, unwrapped here from the store (kept in memory, never printed), must be
        # the keys kms_attest_tool unwraps in C++: same SHA-256 and size.
        store, kek = kms.dir / "store.db", kms.dir / "kek.bin"
        digests = {}
        for volume in VOLUMES:
            digests[volume] = json_line(ctx, run_tool(ctx, [tool, "store-dek", "--store",
                                                            str(store), "--kek", str(kek),
                                                            "--volume", volume],
                                                      f"store-dek {volume}").stdout, "store-dek")
        deks = store_deks(store, kek, VOLUMES)
        for volume, dek in deks.items():
            if (hashlib.sha256(dek).hexdigest(), len(dek)) != (
                    digests[volume]["dek_sha256"], digests[volume]["dek_bytes"]):
                ctx.fail(f"the DEK of {volume} unwrapped from {store} does not match the "
                         f"digest kms_attest_tool reports")
        check_scan_finds_planted_key(ctx)

        # Invariant 3: the disk that holds the backing files has only ciphertext.
        needles = {"the canary": canary.encode()}
        for volume, dek in deks.items():
            needles.update({f"the DEK of {volume} ({encoding})": text
                            for encoding, text in key_encodings(dek).items()})
        hits = scan_file(local.path, needles)
        if hits:
            ctx.fail(f"plaintext in {local.path}: " +
                     "; ".join(f"{label} at {offsets}" for label, offsets in hits.items()))
        print(f"  host: neither the canary nor any of the {len(deks)} DEKs (raw, hex, base64) "
              f"in the {local.path.stat().st_size >> 20} MiB backing disk", flush=True)

        # Invariant 1: no DEK in the node's state records, printed while all were staged.
        archive = console_archive(ctx, boot, "CLOAK-STATE")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            records = sorted(pathlib.PurePath(m.name).stem for m in tar.getmembers()
                             if m.isfile() and pathlib.PurePath(m.name).parent.name == "volumes")
        if records != sorted(VOLUMES):
            ctx.fail(f"the state directory holds records for {records}, not {sorted(VOLUMES)}")
        for volume, dek in deks.items():
            found = set(encodings_found(archive, digests[volume]["dek_sha256"], len(dek)))
            found |= {name for name, text in key_encodings(dek).items() if text in archive}
            if found:
                ctx.fail(f"the node state directory holds the DEK of {volume} "
                         f"({', '.join(sorted(found))})")
        print(f"  host: no DEK in the node state directory ({len(archive)} bytes of tar, "
              f"{len(records)} state records)", flush=True)

        # Invariant 1: no DEK in the guest console (which holds the node plugin's log).
        console = boot.log.read_bytes()
        for volume in VOLUMES:
            found = encodings_found(console, digests[volume]["dek_sha256"],
                                    digests[volume]["dek_bytes"])
            if found:
                ctx.fail(f"the guest console holds the DEK of {volume} ({', '.join(found)})")
        print(f"  host: no DEK of the {len(VOLUMES)} volumes in the guest console", flush=True)

        # Every release went to the attested node, and each volume was reported formatted.
        audit = json.loads(run_tool(ctx, kms.cloakctl() + ["-o", "json", "audit", "list",
                                                           "--limit", "1000"],
                                    "cloakctl audit list").stdout)["entries"]
        node_identity = host.node_identity
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
        host.stop()
