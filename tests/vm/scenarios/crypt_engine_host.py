"""Cloak's engine against tampering from outside the guest. The guest formats one
hmac-sha256 and one aead volume with the engine (crypt_vm_tool), initialises their tags,
writes a canary block and reports a ciphertext sample; the host checks that neither image
holds the canary or a volume key in plaintext (invariant 3) and flips one bit of each
canary block's ciphertext; after a reboot the engine still validates and opens both
volumes, but reading the tampered block fails with EILSEQ, the kernel logs the integrity
error, and the neighbouring blocks read fine."""

import secrets

DESCRIPTION = "engine volumes (hmac-sha256, aead): ciphertext scan, host bit flip -> EILSEQ"

BLOCK = 300  # 4 KiB block number of the canary block in each mapping
VOLUMES = [("h", "hmac-sha256", 96), ("g", "aead", 32)]

FORMAT = f"""
for spec in {" ".join(f"{n}:{m}:{k}" for n, m, k in VOLUMES)}; do
  name=${{spec%%:*}}; rest=${{spec#*:}}; mode=${{rest%%:*}}; keybytes=${{rest#*:}}
  disk=$(eval echo \\$CLOAK_DISK_$(echo $name | tr a-z A-Z))
  step "format $disk as $mode with the engine"
  key_new "key-$name" "$keybytes"
  crypt_vm_tool record "pvc-host-$name" "$mode" > /tmp/record-$name.json
  report "record-$name" /tmp/record-$name.json
  crypt_vm_tool format "$disk" /tmp/record-$name.json "$KEYDIR/key-$name"
  crypt_vm_tool open "$disk" "cloak-$name" /tmp/record-$name.json "$KEYDIR/key-$name" --no-journal
  crypt_vm_tool init "cloak-$name"
  crypt_vm_tool close "cloak-$name"

  step "reopen with the journal, write the canary block {BLOCK}"
  crypt_vm_tool open "$disk" "cloak-$name" /tmp/record-$name.json "$KEYDIR/key-$name"
  yes "$CLOAK_CANARY" | head -c 4096 > /tmp/block
  dd if=/tmp/block of=/dev/mapper/cloak-$name bs=4096 seek={BLOCK} count=1 oflag=direct conv=notrunc 2>/dev/null
  dd if=/dev/mapper/cloak-$name bs=4096 skip={BLOCK} count=1 iflag=direct 2>/dev/null | cmp - /tmp/block
  # dm-crypt sits on <name>_dif at offset 0: the same block there is the ciphertext.
  dd if=/dev/mapper/cloak-${{name}}_dif bs=4096 skip={BLOCK} count=1 iflag=direct 2>/dev/null |
    head -c 64 > /tmp/sample-$name
  [ "$(head -c 64 /tmp/block)" != "$(cat /tmp/sample-$name)" ] || fail "ciphertext equals plaintext"
  report "sample-$name" /tmp/sample-$name
  crypt_vm_tool status "cloak-$name"
  crypt_vm_tool close "cloak-$name"
done
[ -z "$(dmsetup ls | grep -v 'No devices')" ] || fail "mappings left behind: $(dmsetup ls)"
step "both volumes written and closed"
"""

VERIFY = f"""
for name in {" ".join(n for n, _, _ in VOLUMES)}; do
  disk=$(eval echo \\$CLOAK_DISK_$(echo $name | tr a-z A-Z))
  key_get "key-$name"
  key_get "record-$name"
  step "engine reopens $disk after the host flipped one bit"
  crypt_vm_tool open "$disk" "cloak-$name" "$KEYDIR/record-$name" "$KEYDIR/key-$name"
  before=$(dmesg | grep -c "INTEGRITY AEAD ERROR" || true)
  if dd if=/dev/mapper/cloak-$name of=/dev/null bs=4096 skip={BLOCK} count=1 iflag=direct 2>/tmp/err; then
    fail "$name: read of the tampered block succeeded"
  fi
  echo "$name: tampered block: $(head -1 /tmp/err)"
  grep -q 'Invalid or incomplete multibyte' /tmp/err || fail "$name: expected EILSEQ, got: $(cat /tmp/err)"
  for neighbour in {BLOCK - 1} {BLOCK + 1}; do
    dd if=/dev/mapper/cloak-$name of=/dev/null bs=4096 skip=$neighbour count=1 iflag=direct 2>/dev/null ||
      fail "$name: reading the neighbouring block $neighbour failed"
  done
  after=$(dmesg | grep -c "INTEGRITY AEAD ERROR" || true)
  [ "$after" -gt "$before" ] || fail "$name: no INTEGRITY AEAD ERROR in the kernel log"
  crypt_vm_tool status "cloak-$name"
  crypt_vm_tool close "cloak-$name"
done
[ -z "$(dmsetup ls | grep -v 'No devices')" ] || fail "mappings left behind: $(dmsetup ls)"
step "tampered blocks refused with EILSEQ and logged; neighbours intact; nothing left mapped"
"""


def run(ctx):
    disks = [ctx.disk(name, "64M") for name, _, _ in VOLUMES]
    env = {"CLOAK_CANARY": "CLOAK-CANARY-" + secrets.token_hex(12)}
    ctx.boot(FORMAT, disks, binaries=["crypt_vm_tool"], keyholder=True, env=env,
             label="format", timeout=900)

    needles = {"canary": env["CLOAK_CANARY"].encode()}
    for name, _, _ in VOLUMES:
        key = ctx.keyholder.get(f"key-{name}")
        if not key:
            ctx.fail(f"the guest handed over no key for volume {name}")
        needles[f"key of {name} (first half)"] = key[:len(key) // 2]
        needles[f"key of {name} (second half)"] = key[len(key) // 2:]
    ctx.assert_absent(disks, needles)

    for disk, (name, _, _) in zip(disks, VOLUMES):
        sample = ctx.keyholder.get(f"sample-{name}")
        if not sample or len(sample) != 64:
            ctx.fail(f"the guest reported no ciphertext sample for volume {name}")
        hits = ctx.find_all(disk, sample)
        if not hits:
            ctx.fail(f"the ciphertext sample of volume {name} is not in its image")
        for offset in hits:  # the data area, and a journal copy if one survived
            ctx.flip_byte(disk, offset + 17)

    ctx.boot(VERIFY, disks, binaries=["crypt_vm_tool"], keyholder=True, env=env,
             label="verify", timeout=600)
