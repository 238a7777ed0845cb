"""Guest-side shell for the node plugin scenarios: the local backend's disk, starting and
stopping cloak-csi --mode node (optionally with fault points), and CSI calls through
cloak-csi-client. Prepend NODE_GUEST_LIB to a scenario's guest script; it expects
$CLOAK_DISK_LOCAL (a disk named "local"), $CLOAK_VOLUMES ("id:MiB ..."), $CLOAK_KMS_CA
and $CLOAK_CANARY in the environment, and the key service forwarded to 10.0.2.100:7443."""

import json

from .services import HostSwtpm, KmsOnHost, guest_identity, json_line, run, tpm_policy
from .vm import Forward

KMS_GUEST_PORT = 7443  # the key service, for the guest: 10.0.2.100:7443


class NodeHost:
    """The host side of a node scenario: cloak-kms (SQLite, file KEK), the controller's
    swtpm, the guest's vTPM identity read in a first boot (with the `local` disk attached,
    as every later boot has it), a policy pinning both AKs, and a key per volume
    (`volumes`: id -> integrity) created by the controller. `local_size` sizes the sparse
    disk that holds the backing files. stop() stops the services."""

    def __init__(self, ctx, volumes: dict[str, str], local_size: str = "1G"):
        tool = ctx.binary("kms_attest_tool")
        for program in ("cloak-csi", "cloak-csi-client"):
            ctx.binary(program)  # fails the scenario, never skips, when not built
        self.kms = KmsOnHost(ctx)
        self.swtpm = None
        try:
            self.swtpm = HostSwtpm(ctx)
            self.host = json_line(ctx, run(ctx, [tool, "identity", "--tcti", self.swtpm.tcti],
                                           "host identity").stdout, "host identity")
            self.local = ctx.disk("local", local_size)
            self.forwards = [Forward(KMS_GUEST_PORT, f"tcp:{self.kms.address}")]
            self.guest = guest_identity(ctx, self.forwards, disks=[self.local])
            policy_file = ctx.workdir / "policy.json"
            policy_file.write_text(json.dumps(tpm_policy(self.guest, self.host), indent=2))
            run(ctx, self.kms.cloakctl() + ["policy", "set", str(policy_file)],
                "cloakctl policy set")
            for volume, integrity in volumes.items():
                run(ctx, [tool, "create", "--kms", self.kms.address, "--ca", str(self.kms.ca),
                          "--tcti", self.swtpm.tcti, "--volume", volume, "--integrity",
                          integrity], f"create {volume}")
        except BaseException:
            self.stop()
            raise

    @property
    def node_identity(self) -> str:
        return f"node/vm-node@{self.guest['ak_fingerprint'][:16]}"

    def stop(self) -> None:
        if self.swtpm is not None:
            self.swtpm.stop()
            self.swtpm = None
        self.kms.stop()


# NodeStageVolume's logged steps; "attest" is the part of the key fetch that attested
# (zero when the session was live).
STAGE_STEPS = ("attach", "attest", "key_fetch", "format", "open", "integrity_init", "mkfs",
               "mount", "report")


def staged_entries(lines) -> list[dict]:
    """The node plugin's "volume staged" log entries (JSON) among console lines; each has
    volume_id, total_ms and <step>_ms for the steps of STAGE_STEPS it ran."""
    return [json.loads(line[line.index("{"):]) for line in lines
            if '"msg":"volume staged"' in line]


def step_times(entry: dict) -> str:
    return " ".join(f"{s}={entry[s + '_ms']}" for s in STAGE_STEPS if s + "_ms" in entry)


NODE_GUEST_LIB = r"""
setup_local() {
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
}

# start_plugin [FAULT_POINTS]: cloak-csi in the background ($PLUGIN), ready when it answers.
start_plugin() {
  (
    [ -z "${1:-}" ] || export CLOAK_FAULT_POINTS="$1"
    exec cloak-csi --endpoint unix:///csi/csi.sock --mode node \
      --node-id vm-node --state-dir /var/lib/cloak --local-dir /local \
      --kms-address 10.0.2.100:7443 --kms-ca-file /tmp/kms-ca.pem --kms-server-name localhost \
      --attester tpm --log-format json 2>>/tmp/node.log
  ) &
  PLUGIN=$!
  wait_csi /csi/csi.sock /tmp/node.log "the node plugin"
}
# wait_csi SOCKET LOG WHAT: until the plugin at SOCKET answers Probe (60 s; then its LOG).
wait_csi() {
  i=0
  until cloak-csi-client --endpoint "unix://$1" --timeout 5 probe >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le 600 ] || { cat "$2"; fail "$3 did not answer"; }
    sleep 0.1
  done
}
stop_plugin() {
  kill -TERM "$PLUGIN" 2>/dev/null || true
  wait "$PLUGIN" 2>/dev/null || true
}

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

# assert_clean VOLUME: no mapping, loop device or state record of VOLUME is left.
assert_clean() {
  [ "$(attached "$1")" = 0 ] || fail "$1: mapping left: $(dmsetup ls)"
  ! losetup -a | grep -q "/local/$1.img" || fail "$1: loop device left: $(losetup -a)"
  [ ! -e "/var/lib/cloak/volumes/$1.json" ] || fail "$1: state record left"
}
"""
