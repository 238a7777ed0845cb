"""dm-integrity (hmac-sha256) through the real cryptsetup CLI: one flipped ciphertext bit
on the host makes the guest's reads of that block fail (EILSEQ with O_DIRECT, EIO buffered)
and the kernel log the integrity error for its sector; the neighbouring blocks still read."""

import secrets

DESCRIPTION = "cryptsetup LUKS2 --integrity hmac-sha256: host bit flip -> read error, logged"

BLOCK = 256  # 4 KiB block number of the canary block (offset 1 MiB in the mapping)

FORMAT = f"""
disk=$CLOAK_DISK_DATA
step "format $disk as LUKS2 with hmac-sha256 integrity (wiping the tags)"
key_new volume 96
key_new passphrase 32
# --key-size is the cipher part; cryptsetup adds the 256-bit HMAC key (96 bytes in all)
cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 --key-size 512 \\
  --integrity hmac-sha256 --sector-size 4096 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \\
  --volume-key-file $KEYDIR/volume --key-file $KEYDIR/passphrase "$disk"
cryptsetup open --type luks2 --key-file $KEYDIR/passphrase \\
  --perf-no_read_workqueue --perf-no_write_workqueue "$disk" smoke
dmsetup table smoke_dif | cut -d' ' -f1-6

step "write the canary block {BLOCK} and read back its ciphertext"
yes "$CLOAK_CANARY" | head -c 4096 > /tmp/block
dd if=/tmp/block of=/dev/mapper/smoke bs=4096 seek={BLOCK} count=1 oflag=direct conv=notrunc 2>/dev/null
dd if=/dev/mapper/smoke bs=4096 skip={BLOCK} count=1 iflag=direct 2>/dev/null | cmp - /tmp/block
# The crypt target sits on smoke_dif at offset 0, so the same block of smoke_dif holds the
# ciphertext; the host finds it in the image by a sample of it.
dd if=/dev/mapper/smoke_dif bs=4096 skip={BLOCK} count=1 iflag=direct 2>/dev/null | head -c 64 > /tmp/sample
[ "$(head -c 64 /tmp/block)" != "$(cat /tmp/sample)" ] || fail "ciphertext equals plaintext"
report ciphertext_sample /tmp/sample
cryptsetup close smoke
step "ciphertext sample handed to the host"
"""

# What the kernel reports (measured on 6.1): dm-crypt checks the tags itself (the integrity
# target only stores them), so a bad tag shows up as
#   - EILSEQ ("Invalid or incomplete multibyte or wide character") for an O_DIRECT read,
#   - EIO for a buffered read (the page cache turns every read error into EIO),
#   - "device-mapper: crypt: dm-N: INTEGRITY AEAD ERROR, sector S" in the kernel log,
# while the integrity target's own mismatch counter (`dmsetup status`, `integritysetup
# status` "failures") stays 0: it only counts in internal-hash mode.
VERIFY = f"""
disk=$CLOAK_DISK_DATA
step "reopen after the host flipped one bit"
key_get passphrase
cryptsetup open --type luks2 --key-file $KEYDIR/passphrase \\
  --perf-no_read_workqueue --perf-no_write_workqueue "$disk" smoke
aead_errors() {{ dmesg | grep -c "crypt: dm-[0-9]*: INTEGRITY AEAD ERROR, sector {BLOCK * 8}$" || true; }}
[ "$(aead_errors)" -eq 0 ] || fail "integrity errors before any read"

if dd if=/dev/mapper/smoke of=/dev/null bs=4096 skip={BLOCK} count=1 iflag=direct 2>/tmp/err; then
  fail "O_DIRECT read of the tampered block succeeded"
fi
echo "O_DIRECT read: $(head -1 /tmp/err)"
grep -qE 'Invalid or incomplete multibyte|Input/output error' /tmp/err ||
  fail "expected EILSEQ or EIO, got: $(cat /tmp/err)"
echo 3 > /proc/sys/vm/drop_caches
if dd if=/dev/mapper/smoke of=/dev/null bs=4096 skip={BLOCK} count=1 2>/tmp/err; then
  fail "buffered read of the tampered block succeeded"
fi
echo "buffered read: $(head -1 /tmp/err)"
grep -q 'Input/output error' /tmp/err || fail "expected EIO, got: $(cat /tmp/err)"
for neighbour in {BLOCK - 1} {BLOCK + 1}; do
  dd if=/dev/mapper/smoke of=/dev/null bs=4096 skip=$neighbour count=1 iflag=direct 2>/dev/null ||
    fail "reading the neighbouring block $neighbour failed"
done
errors=$(aead_errors)
echo "kernel integrity errors for sector {BLOCK * 8}: $errors"
[ "$errors" -ge 1 ] || fail "no INTEGRITY AEAD ERROR logged for sector {BLOCK * 8}"
echo "integrity target mismatch counter: $(dmsetup status smoke_dif | cut -d' ' -f4)"
cryptsetup close smoke
[ -z "$(dmsetup ls | grep -v 'No devices')" ] || fail "mappings left behind: $(dmsetup ls)"
step "tampered block refused (EILSEQ direct, EIO buffered, logged), neighbours intact"
"""


def run(ctx):
    data = ctx.disk("data", "64M")
    canary = "CLOAK-CANARY-" + secrets.token_hex(12)
    env = {"CLOAK_CANARY": canary}
    ctx.boot(FORMAT, [data], keyholder=True, env=env,
             label="format", timeout=600)

    sample = ctx.keyholder.get("ciphertext_sample")
    if not sample or len(sample) != 64:
        ctx.fail("the guest reported no ciphertext sample")
    hits = ctx.find_all(data, sample)
    if not hits:
        ctx.fail("the ciphertext sample is not in the image")
    ctx.assert_absent([data], {"canary": canary.encode(),
                               "volume key": ctx.keyholder.get("volume"),
                               "passphrase": ctx.keyholder.get("passphrase")})
    for offset in hits:  # the data area, and a journal copy if one survived
        ctx.flip_byte(data, offset + 17)

    ctx.boot(VERIFY, [data], keyholder=True, env=env, label="verify")
