#!/usr/bin/env python3
"""bench/node: NodeStageVolume of new and existing hmac-sha256 volumes through the real
node plugin, in the VM tier's QEMU guest, against the host's cloak-kms (the node_stage
scenario's setup: vTPM attestation, local backend). For each size, a new volume's backing
file (sparse) is staged as ext4 -- format, integrity tags written over the whole device,
mkfs, mount -- unstaged, staged again as an existing volume and unstaged. The table
reports the node plugin's own step times (its "volume staged" log entry) and the rate of
the tag initialisation. Numbers only; nothing is asserted (docs/benchmarks.md).

  bench/node/bench_stage_integrity.py --build-dir build [--sizes-gib 1,4,16] [-v]

Each GiB of integrity volume takes about 40 s under software emulation, and as much
space on the host: the local disk image is sparse, but the tag initialisation writes every
sector. The work directory (BUILD/bench/node/stage_integrity) is replaced at the start;
its disk images are deleted at the end.
"""

import argparse
import json
import pathlib
import re
import shutil
import sys

sys.dont_write_bytecode = True
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "vm"))

from harness import scenario  # noqa: E402
from harness.kernel import ensure_kernel  # noqa: E402
from harness.node_guest import NODE_GUEST_LIB, NodeHost, staged_entries, step_times  # noqa: E402
from harness.util import HarnessError  # noqa: E402

SCRIPT = NODE_GUEST_LIB + r"""
# A 16 GiB volume's tags take longer than the library's 900 s per call.
csi() { cloak-csi-client --endpoint unix:///csi/csi.sock --timeout 14400 node "$@"; }
now() { cut -d' ' -f1 /proc/uptime; }
staged() {  # KIND START: the plugin's log entry of the stage just done, and the client's time
  echo "CLOAK-STAGED $1 client_s=$(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') \
$(grep '"msg":"volume staged"' /tmp/node.log | tail -n 1)"
}

setup_local
start_plugin
out=$(cloak-csi-client --endpoint unix:///csi/csi.sock probe) || fail "Probe failed"
echo "$out" | grep -q '"ready":true' || fail "Probe says not ready: $out"
for spec in $CLOAK_VOLUMES; do
  volume=${spec%%:*}
  step "$volume: NodeStageVolume, new volume (format, integrity tags, mkfs.ext4, mount)"
  t=$(now); stage "$volume" "$FS_EXT4"; staged new "$t"
  unstage "$volume"
  step "$volume: NodeStageVolume, existing volume"
  t=$(now); stage "$volume" "$FS_EXT4"; staged existing "$t"
  unstage "$volume"
done
stop_plugin
grep '"msg":"integrity initialised"' /tmp/node.log | sed 's/^/CLOAK-INIT /'
umount /local
sync
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--sizes-gib", default="1,4,16", help="volume sizes, comma-separated")
    parser.add_argument("--work-dir", default=None, help="default: BUILD_DIR/bench/node")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the guest console")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes_gib.split(",")]
    build_dir = pathlib.Path(args.build_dir).resolve()
    base = pathlib.Path(args.work_dir or build_dir / "bench" / "node").resolve()
    workdir = base / "stage_integrity"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh key service, vTPM and disk
    workdir.mkdir(parents=True)
    volumes = {f"pvc-bench-{size}g": size for size in sizes}
    # The guest's ext4 on the local disk needs a little more than the backing files.
    local_gib = sum(sizes) + 1 + -(-sum(sizes) // 32)
    ctx = scenario.Context("bench_stage_integrity", ensure_kernel(), workdir, build_dir, {},
                           args.verbose)
    host = None
    try:
        host = NodeHost(ctx, {volume: "hmac-sha256" for volume in volumes},
                        local_size=f"{local_gib}G")
        env = {"CLOAK_KMS_CA": host.kms.ca.read_text().strip(), "CLOAK_CANARY": "unused",
               "CLOAK_VOLUMES": " ".join(f"{v}:{s * 1024}" for v, s in volumes.items())}
        result = ctx.boot(SCRIPT, [host.local], binaries=["cloak-csi", "cloak-csi-client"],
                          tpm=True, forwards=host.forwards, env=env, label="bench",
                          timeout=600 + 120 * sum(sizes))
    except HarnessError as error:
        print(f"bench_stage_integrity: {error}", file=sys.stderr)
        return 1
    finally:
        if host is not None:
            host.stop()
        ctx.close()
        for image in workdir.glob("*.img"):
            image.unlink()

    rows, written = [], {}
    for line in result.output:
        match = re.match(r"CLOAK-STAGED (\w+) client_s=([\d.]+) (.*)$", line)
        if match:
            entry = staged_entries([match.group(3)])[0]
            rows.append((match.group(1), float(match.group(2)), entry))
        elif line.startswith("CLOAK-INIT "):
            entry = json.loads(line[line.index("{"):])
            written[entry["volume_id"]] = int(entry["bytes"])
    print("\nhmac-sha256 volumes, ext4, NodeStageVolume through cloak-csi --mode node "
          "(times in seconds, from the plugin's log)\n")
    print("| volume | stage | total | integrity init | MiB written | init MiB/s | format | open | "
          "mkfs | mount | key fetch | client |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, client_s, entry in rows:
        size = volumes[entry["volume_id"]]

        def seconds(step: str) -> str:
            value = entry.get(step + "_ms")
            return f"{float(value) / 1000:.2f}" if value is not None else "—"

        init = entry.get("integrity_init_ms")
        bytes_written = written.get(entry["volume_id"])
        rate = (f"{bytes_written / (1 << 20) / (float(init) / 1000):.1f}"
                if init and bytes_written else "—")
        mib = f"{bytes_written / (1 << 20):,.0f}" if init and bytes_written else "—"
        print(f"| {size} GiB | {kind} | {float(entry['total_ms']) / 1000:.2f} | "
              f"{seconds('integrity_init')} | {mib} | {rate} | {seconds('format')} | "
              f"{seconds('open')} | {seconds('mkfs')} | {seconds('mount')} | "
              f"{seconds('key_fetch')} | {client_s:.2f} |")
    print()
    for kind, _, entry in rows:
        print(f"- {entry['volume_id']} {kind}: total {entry['total_ms']} ms "
              f"({step_times(entry)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
