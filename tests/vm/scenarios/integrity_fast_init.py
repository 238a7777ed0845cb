"""Integrity volumes ready in a time that does not grow with their size. A dm-integrity
device whose tags were never written fails every read of a never-written sector (EILSEQ),
so no stale or forged data can reach a reader; what must be initialised is only what is
read before it is written. A filesystem reads only blocks it wrote, plus the areas that
signature probes (blkid, mkfs) read at the start and the end of the device. So Cloak
initialises 1 MiB at each end, then mkfs writes its own metadata. This scenario measures
that against initialising every tag, and proves that ext4 and xfs work on such volumes
across remounts and fsck, and that a never-written block is still refused."""

DESCRIPTION = "integrity head/tail initialisation + mkfs (ext4, xfs) vs full initialisation"

MIB = 1 << 20

SCRIPT = r"""
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

fast_volume() {  # NAME FS
  name=$1; fs=$2
  disk=$(eval echo \$CLOAK_DISK_$(echo $name | tr a-z A-Z))
  step "$name: $fs on $disk ($(($(blockdev --getsize64 $disk) >> 20)) MiB), head/tail initialisation only"
  key_new "key-$name" 96
  crypt_vm_tool record "pvc-fast-$name" hmac-sha256 > /tmp/record-$name.json
  crypt_vm_tool format "$disk" /tmp/record-$name.json "$KEYDIR/key-$name"
  t0=$(now)
  crypt_vm_tool open "$disk" "cloak-$name" /tmp/record-$name.json "$KEYDIR/key-$name"
  size=$(blockdev --getsize64 /dev/mapper/cloak-$name)
  crypt_vm_tool init "cloak-$name" 0 4194304
  crypt_vm_tool init "cloak-$name" $((size - 4194304)) 4194304
  if [ $fs = ext4 ]; then
    # mke2fs rewrites the 1 KiB backup superblocks (block 0 of groups 1 and powers of 3,
    # 5, 7; 32768 blocks of 4 KiB per group) by read-modify-write of their 4 KiB block.
    groups=$(( (size / 4096 + 32767) / 32768 ))
    for base in 3 5 7; do
      g=1
      while [ $g -lt $groups ]; do
        crypt_vm_tool init "cloak-$name" $((g * 32768 * 4096)) 4096 > /dev/null
        g=$((g * base))
      done
    done
  fi
  if [ $fs = xfs ]; then
    # xfs_repair reads 128 KiB at the start of every allocation group; mkfs writes only
    # the first sectors there. Ask mkfs for the geometry (dry run), initialise those.
    geometry=$(mkfs.xfs -N -f -K /dev/mapper/cloak-$name)
    agcount=$(echo "$geometry" | sed -n 's/.*agcount=\([0-9]*\).*/\1/p' | head -1)
    agsize=$(echo "$geometry" | sed -n 's/.*agsize=\([0-9]*\) blks.*/\1/p' | head -1)
    [ -n "$agcount" ] && [ -n "$agsize" ] || fail "$name: no xfs geometry in: $geometry"
    ag=0
    while [ $ag -lt $agcount ]; do
      crypt_vm_tool init "cloak-$name" $((ag * agsize * 4096)) 131072 > /dev/null
      ag=$((ag + 1))
    done
    echo "$name: initialised the heads of $agcount allocation groups of $agsize blocks"
  fi
  echo "$name: mapping $size bytes"
  t_init=$(elapsed $t0)
  middle=$(( (size / 2) / 4096 ))
  if dd if=/dev/mapper/cloak-$name of=/dev/null bs=4096 skip=$middle count=1 iflag=direct 2>/tmp/err; then
    fail "$name: a never-written block read successfully"
  fi
  grep -q 'Invalid or incomplete multibyte' /tmp/err || fail "$name: expected EILSEQ, got $(cat /tmp/err)"
  errors_before=$(dmesg | grep -c "INTEGRITY AEAD ERROR" || true)
  # No readahead while mkfs runs: probing reads must not pull in never-written pages.
  ra=$(blockdev --getra /dev/mapper/cloak-$name)
  blockdev --setra 0 /dev/mapper/cloak-$name
  t1=$(now)
  case $fs in
    ext4) mkfs.ext4 -q -F -D -b 4096 -E nodiscard /dev/mapper/cloak-$name ;;
    xfs) mkfs.xfs -q -f -K /dev/mapper/cloak-$name ;;
  esac
  t_mkfs=$(elapsed $t1)
  blockdev --setra "$ra" /dev/mapper/cloak-$name
  errors_after=$(dmesg | grep -c "INTEGRITY AEAD ERROR" || true)
  # Refused reads during mkfs are measured, not fatal: mkfs succeeded without the data.
  echo "$name: mkfs.$fs met $((errors_after - errors_before)) refused read(s) of never-written blocks"
  echo "$name: ready-to-mount after $t_init s initialisation + $t_mkfs s mkfs.$fs"
  echo "RESULT fast $name $fs $size $t_init $t_mkfs $((errors_after - errors_before))"
  mkdir -p /mnt/$name
  mount -t $fs /dev/mapper/cloak-$name /mnt/$name
  dd if=/dev/urandom of=/mnt/$name/data bs=1M count=16 2>/dev/null
  mkdir -p /mnt/$name/dir; for i in $(seq 1 200); do echo "file $i" > /mnt/$name/dir/f$i; done
  sum=$(sha256sum /mnt/$name/data | cut -d' ' -f1)
  umount /mnt/$name
  case $fs in
    ext4) e2fsck -fn /dev/mapper/cloak-$name >/tmp/fsck 2>&1 || { cat /tmp/fsck; fail "$name: e2fsck found problems"; } ;;
    xfs) xfs_repair -n /dev/mapper/cloak-$name >/tmp/fsck 2>&1 || { cat /tmp/fsck; fail "$name: xfs_repair -n found problems"; } ;;
  esac
  crypt_vm_tool close "cloak-$name"
  crypt_vm_tool open "$disk" "cloak-$name" /tmp/record-$name.json "$KEYDIR/key-$name"
  mount -t $fs /dev/mapper/cloak-$name /mnt/$name
  [ "$(sha256sum /mnt/$name/data | cut -d' ' -f1)" = "$sum" ] || fail "$name: data changed"
  [ "$(cat /mnt/$name/dir/f200)" = "file 200" ] || fail "$name: small file changed"
  umount /mnt/$name
  errors_end=$(dmesg | grep -c "INTEGRITY AEAD ERROR" || true)
  [ "$errors_end" -eq "$errors_after" ] || fail "$name: the mounted filesystem or fsck read never-written blocks"
  crypt_vm_tool close "cloak-$name"
}

full_volume() {  # NAME
  name=$1
  disk=$(eval echo \$CLOAK_DISK_$(echo $name | tr a-z A-Z))
  step "$name: full initialisation of $disk ($(($(blockdev --getsize64 $disk) >> 20)) MiB) for comparison"
  key_new "key-$name" 96
  crypt_vm_tool record "pvc-full-$name" hmac-sha256 > /tmp/record-$name.json
  crypt_vm_tool format "$disk" /tmp/record-$name.json "$KEYDIR/key-$name"
  t0=$(now)
  crypt_vm_tool open "$disk" "cloak-$name" /tmp/record-$name.json "$KEYDIR/key-$name" --no-journal
  size=$(blockdev --getsize64 /dev/mapper/cloak-$name)
  crypt_vm_tool init "cloak-$name"
  t_init=$(elapsed $t0)
  crypt_vm_tool close "cloak-$name"
  echo "RESULT full $name - $size $t_init - -"
}

fast_volume a ext4
fast_volume b xfs
full_volume c
[ -z "$(dmsetup ls | grep -v 'No devices')" ] || fail "mappings left behind: $(dmsetup ls)"
step "done"
"""


def run(ctx):
    disks = [ctx.disk("a", "256M"), ctx.disk("b", "1G"), ctx.disk("c", "256M")]
    result = ctx.boot(SCRIPT, disks, binaries=["crypt_vm_tool"], keyholder=True,
                      label="fast_init", timeout=1200)
    rows = [line.split()[1:] for line in result.output if line.startswith("RESULT ")]
    for kind, name, fs, size, t_init, t_mkfs, refused in rows:
        what = f"{fs} " if fs != "-" else ""
        extra = f" + {t_mkfs} s mkfs ({refused} refused reads)" if t_mkfs != "-" else ""
        print(f"  {kind:4} {name}: {int(size) >> 20} MiB {what}initialised in {t_init} s{extra}",
              flush=True)
