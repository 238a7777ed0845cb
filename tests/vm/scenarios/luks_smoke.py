"""LUKS2 through the real cryptsetup CLI: format, open, ext4, canary; the host finds neither
the canary nor the keys in the image; after a reboot the canary and data read back."""

import secrets

DESCRIPTION = "cryptsetup LUKS2 format/open/ext4 canary, host ciphertext scan, reopen after reboot"

FORMAT = """
disk=$CLOAK_DISK_DATA
step "format $disk as LUKS2 (aes-xts-plain64, 4096-byte sectors, PBKDF2 minimum)"
key_new volume 64
key_new passphrase 32
cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 --key-size 512 \\
  --sector-size 4096 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label cloak-smoke \\
  --volume-key-file $KEYDIR/volume --key-file $KEYDIR/passphrase "$disk"
cryptsetup luksDump "$disk" | grep -E 'Version|cipher|sector|offset|PBKDF|Iterations' | sort -u

step "open with the workqueue bypass"
cryptsetup open --type luks2 --key-file $KEYDIR/passphrase \\
  --perf-no_read_workqueue --perf-no_write_workqueue "$disk" smoke
table=$(dmsetup table smoke)
for flag in no_read_workqueue no_write_workqueue "sector_size:4096" aes-xts-plain64; do
  case "$table" in *"$flag"*) ;; *) fail "live table lacks $flag" ;; esac
done

step "ext4, canary and 4 MiB of random data"
mkfs.ext4 -q /dev/mapper/smoke
mount /dev/mapper/smoke /mnt
printf '%s\\n' "$CLOAK_CANARY" > /mnt/canary.txt
dd if=/dev/urandom of=/mnt/random.bin bs=1M count=4 2>/dev/null
sha256sum /mnt/random.bin | cut -d' ' -f1 > /tmp/random.sha256
report random_sha256 /tmp/random.sha256
umount /mnt
cryptsetup close smoke
[ -z "$(dmsetup ls | grep -v 'No devices')" ] || fail "mappings left behind: $(dmsetup ls)"
step "closed"
"""

REOPEN = """
disk=$CLOAK_DISK_DATA
step "reopen $disk after a reboot"
key_get passphrase
key_get random_sha256
cryptsetup open --type luks2 --key-file $KEYDIR/passphrase \\
  --perf-no_read_workqueue --perf-no_write_workqueue "$disk" smoke
e2fsck -fn /dev/mapper/smoke
mount /dev/mapper/smoke /mnt
[ "$(cat /mnt/canary.txt)" = "$CLOAK_CANARY" ] || fail "canary differs: $(cat /mnt/canary.txt)"
[ "$(sha256sum /mnt/random.bin | cut -d' ' -f1)" = "$(cat $KEYDIR/random_sha256)" ] ||
  fail "random data differs after reopen"
umount /mnt
cryptsetup close smoke
step "canary and data identical after reopen"
"""


def run(ctx):
    data = ctx.disk("data", "256M")
    canary = "CLOAK-CANARY-" + secrets.token_hex(12)
    env = {"CLOAK_CANARY": canary}
    ctx.boot(FORMAT, [data], keyholder=True, env=env, label="format")

    with open(data.path, "rb") as image:
        if image.read(6) != b"LUKS\xba\xbe":
            ctx.fail("the image does not start with a LUKS2 header")
    needles = {"canary": canary.encode()}
    needles.update({f"key {name}": value for name, value in ctx.keyholder.items().items()
                    if name in ("volume", "passphrase")})
    needles.update({f"key {name} (hex)": value.hex().encode()
                    for name, value in ctx.keyholder.items().items()
                    if name in ("volume", "passphrase")})
    if len(needles) != 5:
        ctx.fail("the guest did not hand both keys to the key holder")
    ctx.assert_absent([data], needles)

    ctx.boot(REOPEN, [data], keyholder=True, env=env, label="reopen")
