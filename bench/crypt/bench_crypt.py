#!/usr/bin/env python3
"""bench/crypt: I/O cost of Cloak's volume configurations on the real kernel, in the VM
tier's QEMU guest. Each configuration gets a fresh disk of the same size; fio (direct I/O,
libaio) runs sequential 1 MiB and random 4 KiB reads and writes on the mapping, and the
table reports throughput and the ratio to the plain disk measured in the same boot. Format
and open latency and the integrity initialisation rate are reported too. Numbers only;
nothing is asserted (docs/benchmarks.md).

  bench/crypt/bench_crypt.py --build-dir build [--runtime 8] [--size-mib 512]
"""

import argparse
import pathlib
import sys

sys.dont_write_bytecode = True
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "vm"))

from harness import scenario  # noqa: E402
from harness.kernel import ensure_kernel  # noqa: E402

CONFIGS = [
    ("plain", "the raw virtio disk"),
    ("cloak", "Cloak defaults: aes-xts-plain64, 4096-byte sectors, PBKDF2 minimum, no workqueues"),
    ("cloak-hmac", "Cloak with hmac-sha256 integrity (journal on)"),
    ("cloak-aead", "Cloak with aead (aes-gcm-random) integrity (journal on)"),
    ("peer-default", "cryptsetup luksFormat --type luks2 defaults, opened without flags"),
    ("argon2-bypass", "argon2id 2000 ms / 64 MiB keyslot, 4096-byte sectors, workqueue bypass"),
]

JOBS = [
    ("seq-read", "--rw=read --bs=1M --iodepth=4"),
    ("seq-write", "--rw=write --bs=1M --iodepth=4"),
    ("rand-read", "--rw=randread --bs=4k --iodepth=16"),
    ("rand-write", "--rw=randwrite --bs=4k --iodepth=16"),
]

SCRIPT = r"""
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
disk_of() { eval echo \$CLOAK_DISK_$(echo "$1" | tr a-z- A-Z_); }

run_fio() {  # CONFIG DEVICE
  for job in @JOBS@; do
    name=${job%%=*}; args=$(echo "${job#*=}" | tr '+' ' ')
    line=$(fio --name=$name --filename="$2" --direct=1 --ioengine=libaio $args \
      --size=@SIZE@M --runtime=@RUNTIME@ --time_based --minimal 2>/dev/null) ||
      fail "fio $name on $1 failed"
    # terse v3: field 7 read KiB/s, 8 read IOPS, 48 write KiB/s, 49 write IOPS
    echo "$line" | awk -F';' -v c="$1" -v j="$name" \
      '{ if ($7 > 0) print "RESULT fio", c, j, $7, $8; else print "RESULT fio", c, j, $48, $49 }'
  done
}

cloak_volume() {  # CONFIG MODE KEYBYTES
  disk=$(disk_of "$1")
  key_new "key-$1" "$3"
  crypt_vm_tool record "pvc-bench-$1" "$2" > /tmp/record-$1.json
  t=$(now); crypt_vm_tool format "$disk" /tmp/record-$1.json "$KEYDIR/key-$1" >/dev/null
  echo "RESULT format $1 $(elapsed $t)"
  if [ "$2" != none ]; then
    crypt_vm_tool open "$disk" "b-$1" /tmp/record-$1.json "$KEYDIR/key-$1" --no-journal >/dev/null
    rate=$(crypt_vm_tool init "b-$1" | sed -n 's/.*(\(.*\) MiB\/s)/\1/p')
    echo "RESULT init $1 $rate"
    crypt_vm_tool close "b-$1" >/dev/null
  fi
  t=$(now); crypt_vm_tool open "$disk" "b-$1" /tmp/record-$1.json "$KEYDIR/key-$1" >/dev/null
  echo "RESULT open $1 $(elapsed $t)"
  run_fio "$1" /dev/mapper/b-$1
  crypt_vm_tool close "b-$1" >/dev/null
}

cryptsetup_volume() {  # CONFIG "FORMAT OPTIONS" "OPEN OPTIONS"
  disk=$(disk_of "$1")
  key_new "pass-$1" 32
  t=$(now)
  cryptsetup luksFormat --batch-mode --type luks2 $2 --key-file "$KEYDIR/pass-$1" "$disk"
  echo "RESULT format $1 $(elapsed $t)"
  t=$(now)
  cryptsetup open --type luks2 $3 --key-file "$KEYDIR/pass-$1" "$disk" "b-$1"
  echo "RESULT open $1 $(elapsed $t)"
  run_fio "$1" /dev/mapper/b-$1
  cryptsetup close "b-$1"
}

step "plain disk"
run_fio plain "$(disk_of plain)"
step "Cloak defaults"; cloak_volume cloak none 64
step "Cloak hmac-sha256"; cloak_volume cloak-hmac hmac-sha256 96
step "Cloak aead"; cloak_volume cloak-aead aead 32
step "cryptsetup defaults"; cryptsetup_volume peer-default "" ""
step "argon2id + bypass"
cryptsetup_volume argon2-bypass \
  "--pbkdf argon2id --iter-time 2000 --pbkdf-memory 65536 --sector-size 4096" \
  "--perf-no_read_workqueue --perf-no_write_workqueue"
step "done"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--runtime", type=int, default=8, help="seconds per fio job")
    parser.add_argument("--size-mib", type=int, default=512, help="disk size per configuration")
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args()

    build_dir = pathlib.Path(args.build_dir).resolve()
    workdir = pathlib.Path(args.work_dir or build_dir / "bench" / "crypt").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for image in workdir.glob("*.img"):
        image.unlink()
    kernel = ensure_kernel()
    ctx = scenario.Context("bench_crypt", kernel, workdir, build_dir, {}, False)
    fio_size = max(64, args.size_mib // 2)
    script = (SCRIPT.replace("@JOBS@", " ".join(f"{n}={a.replace(' ', '+')}" for n, a in JOBS))
              .replace("@SIZE@", str(fio_size)).replace("@RUNTIME@", str(args.runtime)))
    disks = [ctx.disk(name, f"{args.size_mib}M") for name, _ in CONFIGS]
    try:
        result = ctx.boot(script, disks, binaries=["crypt_vm_tool"], tools=["fio"],
                          keyholder=True, label="bench", timeout=3600)
    finally:
        ctx.close()
        for image in workdir.glob("*.img"):
            image.unlink()

    fio, fmt, opn, init = {}, {}, {}, {}
    for line in result.output:
        parts = line.split()
        if not parts or parts[0] != "RESULT":
            continue
        if parts[1] == "fio":
            fio[(parts[2], parts[3])] = (float(parts[4]), float(parts[5]))
        elif parts[1] == "format":
            fmt[parts[2]] = parts[3]
        elif parts[1] == "open":
            opn[parts[2]] = parts[3]
        elif parts[1] == "init":
            init[parts[2]] = parts[3]

    print(f"\nfio: direct I/O, libaio, {args.runtime} s per job, {fio_size} MiB region, "
          f"{args.size_mib} MiB disk per configuration\n")
    header = "| configuration | " + " | ".join(
        f"{n} MiB/s (×plain)" if n.startswith("seq") else f"{n} IOPS (×plain)" for n, _ in JOBS)
    print(header + " | format s | open s | integrity init MiB/s |")
    print("|" + "---|" * (len(JOBS) + 4))
    for config, _ in CONFIGS:
        cells = []
        for job, _ in JOBS:
            value = fio.get((config, job))
            base = fio.get(("plain", job))
            if value is None:
                cells.append("—")
                continue
            number = value[0] / 1024 if job.startswith("seq") else value[1]
            base_number = (base[0] / 1024 if job.startswith("seq") else base[1]) if base else 0
            ratio = f" ({number / base_number:.2f})" if base_number else ""
            cells.append(f"{number:.1f}{ratio}" if job.startswith("seq") else f"{number:.0f}{ratio}")
        print(f"| {config} | " + " | ".join(cells) +
              f" | {fmt.get(config, '—')} | {opn.get(config, '—')} | {init.get(config, '—')} |")
    print()
    for config, description in CONFIGS:
        print(f"- {config}: {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
