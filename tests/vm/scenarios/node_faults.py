"""Restart recovery of the node plugin (DESIGN §4): for every named fault point of
NodeStageVolume and NodeUnstageVolume, cloak-csi is started with that point set to
`kill` (SIGKILL to itself, as a crash), the call is made and dies with it, the plugin is
started again without faults and the same call is repeated. Each point must pass:
  - the repeated call completes;
  - data written before is intact (unstage points: a canary written before the crash is
    read back after restaging; stage points: a canary written after recovery survives an
    unstage and restage);
  - nothing is formatted twice (the plugin logs "formatted" once per volume);
  - no mapping, loop device or state record is left after the final unstage.
One volume per point, each with its own key; the integrity-initialisation point runs on
an hmac-sha256 volume, the others on plain ones."""

import os

from harness.node_guest import NODE_GUEST_LIB, NodeHost

DESCRIPTION = "node plugin killed at every stage/unstage fault point, restarted, call repeated"

STAGE_POINTS = ["after_attach", "after_key_fetch", "after_format", "after_open",
                "after_integrity_init", "after_mkfs", "after_mount", "after_report"]
UNSTAGE_POINTS = ["after_unmount", "after_close", "after_detach"]


def _volume(point: str) -> str:
    return "f-" + point.replace("_", "-")


SCRIPT = NODE_GUEST_LIB + r"""
setup_local
formatted() { grep -c "\"msg\":\"formatted\",\"volume_id\":\"$1\"" /tmp/node.log || true; }
# killed POINT: the plugin died of the SIGKILL its fault point sent, not of anything else.
killed() {
  rc=0
  wait "$PLUGIN" || rc=$?
  [ "$rc" = 137 ] || fail "$1: the plugin exited with $rc, not by SIGKILL at its fault point"
}
# canary_survives_restage VOLUME (unstaged, canary written): stage, read it, unstage.
canary_survives_restage() {
  stage "$1" "$FS_EXT4"
  publish "$1" "$FS_EXT4"
  [ "$(read_canary "$1" fs)" = "$CLOAK_CANARY $1" ] || fail "$1: the canary did not come back"
  unpublish "$1"
  unstage "$1"
  assert_clean "$1"
}
# not_reformatted VOLUME UUID_AT_CRASH: the header a crash left is the one in use now, and
# the plugin logged at most one format (a SIGKILL may cut the log line of the only one).
not_reformatted() {
  [ "$(formatted "$1")" -le 1 ] || fail "$1: formatted $(formatted "$1") times"
  [ -z "$2" ] || [ "$(cryptsetup luksUUID "/local/$1.img")" = "$2" ] ||
    fail "$1: its LUKS2 header was replaced after the crash"
}

for point in $CLOAK_STAGE_POINTS; do
  v="f-$(echo "$point" | tr _ -)"
  step "node.stage.$point: killed during NodeStageVolume of $v"
  start_plugin "node.stage.$point=kill"
  mkdir -p "/staging/$v"
  if csi stage "{\"volume_id\":\"$v\",\"staging_target_path\":\"/staging/$v\",\"volume_capability\":$FS_EXT4}" \
      >/dev/null 2>&1; then
    fail "$v: the stage survived its fault point"
  fi
  killed "$point"
  uuid=$(cryptsetup luksUUID "/local/$v.img" 2>/dev/null || true)
  start_plugin
  stage "$v" "$FS_EXT4"
  publish "$v" "$FS_EXT4"
  write_canary "$v" fs
  unpublish "$v"
  unstage "$v"
  assert_clean "$v"
  canary_survives_restage "$v"
  not_reformatted "$v" "$uuid"
  stop_plugin
  echo "CLOAK-FAULT node.stage.$point ok uuid_at_crash=${uuid:-none}"
done

for point in $CLOAK_UNSTAGE_POINTS; do
  v="f-$(echo "$point" | tr _ -)"
  step "node.unstage.$point: killed during NodeUnstageVolume of $v"
  start_plugin
  stage "$v" "$FS_EXT4"
  publish "$v" "$FS_EXT4"
  write_canary "$v" fs
  unpublish "$v"
  stop_plugin
  start_plugin "node.unstage.$point=kill"
  if csi unstage "{\"volume_id\":\"$v\",\"staging_target_path\":\"/staging/$v\"}" >/dev/null 2>&1; then
    fail "$v: the unstage survived its fault point"
  fi
  killed "$point"
  start_plugin
  unstage "$v"
  assert_clean "$v"
  canary_survives_restage "$v"
  not_reformatted "$v" "$(cryptsetup luksUUID "/local/$v.img")"
  stop_plugin
  echo "CLOAK-FAULT node.unstage.$point ok"
done
[ -z "$(losetup -a)" ] || fail "loop devices left: $(losetup -a)"
umount /local
sync
"""


def run(ctx):
    points = STAGE_POINTS + UNSTAGE_POINTS
    host = NodeHost(ctx, {_volume(p): "hmac-sha256" if p == "after_integrity_init" else "none"
                          for p in points})
    try:
        env = {"CLOAK_KMS_CA": host.kms.ca.read_text().strip(),
               "CLOAK_CANARY": "cloak-canary-" + os.urandom(12).hex(),
               "CLOAK_VOLUMES": " ".join(f"{_volume(p)}:64" for p in points),
               "CLOAK_STAGE_POINTS": " ".join(STAGE_POINTS),
               "CLOAK_UNSTAGE_POINTS": " ".join(UNSTAGE_POINTS)}
        boot = ctx.boot(SCRIPT, [host.local], binaries=["cloak-csi", "cloak-csi-client"],
                        tpm=True, forwards=host.forwards, env=env, label="faults", timeout=1200)
        passed = [line.split()[1] for line in boot.output if line.startswith("CLOAK-FAULT ")]
        expected = [f"node.stage.{p}" for p in STAGE_POINTS] + \
            [f"node.unstage.{p}" for p in UNSTAGE_POINTS]
        if passed != expected:
            ctx.fail(f"fault points passed: {passed}, expected {expected}")
        print(f"  guest: all {len(passed)} fault points recovered (kill, restart, repeat)",
              flush=True)
    finally:
        host.stop()
