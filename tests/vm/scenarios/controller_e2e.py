"""The whole life of a volume, as Kubernetes drives it (DESIGN §1, §4, invariants 1, 3, 7,
8): the key service (cloak-kms, SQLite store, file KEK) on the host; in the guest, with its
vTPM, cloak-csi --mode controller (attesting with the vTPM's controller AK) beside
cloak-csi --mode node (the node AK). The policy gives the two AKs different roles, so the
controller may create and destroy keys but never receive one, and the node the reverse.

Boot 1 reads both AKs and the PCRs. Boot 2: CreateVolume (repeated: same volume) ->
NodeStageVolume -> NodePublishVolume -> the pod writes a text and reads it back ->
unpublish, unstage. Host: the text is nowhere in the disk image that holds the backing
file; `cloakctl kek rotate --wait` rewraps the volume's key under KEK version 2 (same DEK).
Boot 3: stage, publish, the text read back; a copy of the backing file is kept; DeleteVolume
(the key destroyed, then the file removed; repeated: OK); the copy put back; stage is
refused by the key service (the key, not the file, is missing). Host: the audit shows the
create and the destroy by the controller's identity, every release to the node's, the
chain verifies; no DEK in any console or in the key service's log.
"""

import hashlib
import json
import os
import uuid

from harness.controller_guest import (CONTROLLER_AK_HANDLE, CONTROLLER_GUEST_LIB, NODE_AK_HANDLE,
                                      Narration, guest_identities, identity_name,
                                      node_controller_policy)
from harness.key_scan import check_scan_finds_planted_key, key_encodings, store_deks
from harness.node_guest import KMS_GUEST_PORT, NODE_GUEST_LIB
from harness.services import KmsOnHost, encodings_found, marker
from harness.services import run as run_tool
from harness.util import say, scan_file
from harness.vm import Forward

DESCRIPTION = ("CreateVolume -> stage -> publish -> write/read -> ciphertext only on the host "
               "-> KEK rotation -> restage -> DeleteVolume -> restage refused (key destroyed)")

REQUIRED_BYTES = 64 << 20
LUKS2_MAGIC = b"LUKS\xba\xbe\x00\x02"

START = f"""
open_local
step "starting cloak-csi --mode controller (vTPM AK {CONTROLLER_AK_HANDLE}) and cloak-csi --mode node (vTPM AK {NODE_AK_HANDLE})"
start_controller
start_plugin
"""

STOP = r"""
stop_plugin
stop_controller
echo "CLOAK-LOG controller"
cat /tmp/controller.log
echo "CLOAK-LOG node"
cat /tmp/node.log
close_local
"""

CREATE_AND_WRITE = NODE_GUEST_LIB + CONTROLLER_GUEST_LIB + START + r"""
caps=$(ctl capabilities '{}') || fail "ControllerGetCapabilities: $(tail -n 5 /tmp/controller.log)"
echo "$caps" | grep -q CREATE_DELETE_VOLUME || fail "no CREATE_DELETE_VOLUME: $caps"

step "CreateVolume $CLOAK_PVC: 64 MiB, ext4, no integrity (the external-provisioner's request for PVC demo/data)"
out=$(ctl create "$CLOAK_CREATE") || fail "CreateVolume: $(tail -n 5 /tmp/controller.log)"
note "$out"
echo "CLOAK-CREATED $out"
id=$(echo "$out" | json_str volume_id)
echo "$id" | grep -qE '^vol-[0-9a-f]{32}$' || fail "volume id '$id' is not vol-<32 hex>"
context=$(echo "$out" | json_obj volume_context)
[ -n "$context" ] || context='{}'
capacity=$(echo "$out" | json_str capacity_bytes)
[ "${capacity:-0}" -ge "$CLOAK_REQUIRED" ] || fail "capacity_bytes $capacity < $CLOAK_REQUIRED"
echo "$out" | grep -q '"topology.cloak.csi.dev/node":"vm-node"' ||
  fail "no accessible_topology naming vm-node: $out"
again=$(ctl create "$CLOAK_CREATE") || fail "CreateVolume repeated"
[ "$(echo "$again" | json_str volume_id)" = "$id" ] || fail "a repeated CreateVolume answered $again"
note "repeated with the same name: the same volume (CreateVolume is idempotent)"
rc=0
ctl create "$(echo "$CLOAK_CREATE" | sed 's/"required_bytes":"[0-9]*"/"required_bytes":"134217728"/')" \
  >/dev/null 2>/tmp/ctl.err || rc=$?
[ "$rc" = 16 ] || fail "the same name with another size: exit $rc, not ALREADY_EXISTS (16): $(cat /tmp/ctl.err)"
out=$(ctl validate "{\"volume_id\":\"$id\",\"volume_capabilities\":[$FS_EXT4]}") ||
  fail "ValidateVolumeCapabilities"
echo "$out" | grep -q '"confirmed"' || fail "ValidateVolumeCapabilities did not confirm: $out"
[ "$(ctl get "{\"volume_id\":\"$id\"}" | json_str volume_id)" = "$id" ] || fail "ControllerGetVolume $id"
ctl list '{}' | grep -q "\"$id\"" || fail "ListVolumes does not list $id"
free=$(ctl capacity "{\"volume_capabilities\":[$FS_EXT4]}" | json_str available_capacity)
[ "${free:-0}" -gt 0 ] || fail "GetCapacity: no available capacity"
note "the same name with another size: ALREADY_EXISTS; ValidateVolumeCapabilities confirmed; ControllerGetVolume and ListVolumes show it; GetCapacity: $free bytes free"
[ -f "/local/$id.img" ] || fail "no backing file /local/$id.img: $(ls -l /local)"
size=$(stat -c %s "/local/$id.img")
[ "$size" -gt "$CLOAK_REQUIRED" ] || fail "backing file of $size bytes for $CLOAK_REQUIRED requested"
note "backing file /local/$id.img: $size bytes (sparse: $(( $(stat -c %b "/local/$id.img") * 512 )) allocated)"

step "NodeStageVolume: attest with a vTPM quote, receive the key sealed to this node, format LUKS2, mkfs.ext4, mount"
k8s_stage "$id" "$FS_EXT4" "$context" >/dev/null || fail "NodeStageVolume: $(tail -n 5 /tmp/node.log)"
bytes=$(blockdev --getsize64 "/dev/mapper/cloak-$id")
[ "$bytes" -ge "$CLOAK_REQUIRED" ] || fail "the mapping holds $bytes bytes, under $CLOAK_REQUIRED"
note "/dev/mapper/cloak-$id: $bytes bytes for the filesystem"
note "$(cryptsetup status "cloak-$id" |
  sed -nE 's/^ *(type|cipher|keysize|key location|sector size): *(.*)/\1 \2/p' | tr '\n' ';' |
  sed 's/;$//; s/;/; /g')"

step "NodePublishVolume: the staged filesystem bind-mounted at the pod's /pods/$id/vol"
publish "$id" "$FS_EXT4"
step "the pod writes a file and reads it back"
printf '%s\n' "$CLOAK_TEXT" > "/pods/$id/vol/hello.txt"
sync
got=$(cat "/pods/$id/vol/hello.txt")
[ "$got" = "$CLOAK_TEXT" ] || fail "read back '$got', wrote '$CLOAK_TEXT'"
note "wrote and read back: $got"
note "$(df -kP "/pods/$id/vol" | tail -n 1 | awk '{print "ext4: " $2 " KiB, " $4 " KiB free"}')"

step "NodeUnpublishVolume, NodeUnstageVolume: unmounted, mapping closed, loop device detached"
unpublish "$id"
unstage "$id"
assert_clean "$id"
""" + STOP

RESTAGE_AND_DELETE = NODE_GUEST_LIB + CONTROLLER_GUEST_LIB + START + r"""
id=$CLOAK_VOLUME_ID
context=$CLOAK_VOLUME_CONTEXT
step "NodeStageVolume again: a fresh attestation; the key service unwraps the key with the new KEK"
k8s_stage "$id" "$FS_EXT4" "$context" >/dev/null || fail "NodeStageVolume: $(tail -n 5 /tmp/node.log)"
publish "$id" "$FS_EXT4"
got=$(cat "/pods/$id/vol/hello.txt") || fail "the pod's file is gone"
[ "$got" = "$CLOAK_TEXT" ] || fail "read back '$got' after the KEK rotation, wrote '$CLOAK_TEXT'"
note "read back: $got"
unpublish "$id"
unstage "$id"
assert_clean "$id"

step "keeping a copy of the backing file outside the backend's directory (as a host that kept the blocks could)"
cp "/local/$id.img" "/disk/kept/$id.img" || fail "copying the backing file"

step "DeleteVolume $id: the controller destroys the key in the key service, then removes the backing file"
ctl delete "{\"volume_id\":\"$id\"}" >/dev/null || fail "DeleteVolume: $(tail -n 5 /tmp/controller.log)"
[ ! -e "/local/$id.img" ] || fail "the backing file is still there after DeleteVolume"
ctl delete "{\"volume_id\":\"$id\"}" >/dev/null || fail "a repeated DeleteVolume failed"
note "backing file removed; DeleteVolume repeated: OK (deleting what is gone is done)"
list=$(ctl list '{}') || fail "ListVolumes: $(tail -n 5 /tmp/controller.log)"
! echo "$list" | grep -q "$id" || fail "ListVolumes still lists $id: $list"

step "the saved copy put back as /local/$id.img; NodeStageVolume once more"
cp "/disk/kept/$id.img" "/local/$id.img" || fail "restoring the copy"
rc=0
k8s_stage "$id" "$FS_EXT4" "$context" >/dev/null 2>/tmp/stage.err || rc=$?
[ "$rc" -ne 0 ] || fail "NodeStageVolume succeeded after DeleteVolume"
note "refused, exit $rc: $(cat /tmp/stage.err)"
echo "CLOAK-RESTAGE rc=$rc $(cat /tmp/stage.err)"
case "$rc" in
  15|19) ;;
  *) fail "NodeStageVolume after DeleteVolume exited $rc, not NOT_FOUND (15) or FAILED_PRECONDITION (19)" ;;
esac
left="$(losetup -a | grep "$id" || true) $(ls /var/lib/cloak/volumes)"
[ -z "$(echo $left)" ] || note "left by the refused stage: $(echo $left); NodeUnstageVolume removes it"
unstage "$id"
assert_clean "$id"
rm -f "/local/$id.img" "/disk/kept/$id.img"
""" + STOP


def narrated_boot(ctx, script, local, forwards, env, label, timeout=900):
    with Narration(ctx, label):
        return ctx.boot(script, [local], binaries=["cloak-csi", "cloak-csi-client"], tpm=True,
                        forwards=forwards, env=env, label=label, timeout=timeout)


def volume_info(ctx, kms, volume_id) -> dict:
    return json.loads(run_tool(ctx, kms.cloakctl() + ["-o", "json", "volumes", "show", volume_id],
                               f"cloakctl volumes show {volume_id}").stdout)


def stored_dek(kms, volume_id) -> bytes:
    """The volume's DEK, unwrapped here from the key service's store (kept in memory, never
    printed: only a digest prefix is shown)."""
    return store_deks(kms.dir / "store.db", kms.dir / "kek.bin", [volume_id])[volume_id]


def scan_local(ctx, local, text: str, dek: bytes, volume_id: str) -> dict:
    """Invariant 3 on the disk image holding the backing file (and the controller's
    manifest and state): neither the pod's text nor the DEK in any encoding. Returns the
    offsets of what must be there in plaintext (the LUKS2 header, the file's name)."""
    needles = {"the pod's text": text.encode(), "LUKS2 header": LUKS2_MAGIC,
               "backing file name": f"{volume_id}.img".encode()}
    needles.update({f"the DEK ({encoding})": needle
                    for encoding, needle in key_encodings(dek).items()})
    hits = scan_file(local.path, needles, limit=5)
    leaked = {label: offsets for label, offsets in hits.items()
              if label == "the pod's text" or label.startswith("the DEK")}
    if leaked:
        ctx.fail(f"plaintext in {local.path}: {leaked}")
    return hits


def run(ctx):
    ctx.binary("kms_attest_tool")
    for program in ("cloak-csi", "cloak-csi-client", "cloakctl"):
        ctx.binary(program)  # fails the scenario, never skips, when not built
    kms = KmsOnHost(ctx)
    try:
        story(ctx, kms)
    finally:
        kms.stop()


def story(ctx, kms):
    say(f"  host: cloak-kms init + serve on {kms.address} (SQLite store, file KEK, TLS 1.3); "
        f"the guest reaches it only at 10.0.2.100:{KMS_GUEST_PORT}")
    local = ctx.disk("local", "1G")
    forwards = [Forward(KMS_GUEST_PORT, f"tcp:{kms.address}")]
    node, controller = guest_identities(ctx, forwards, [local])
    node_id = identity_name("node", "vm-node", node)
    controller_id = identity_name("controller", "vm-controller", controller)
    policy_file = ctx.workdir / "policy.json"
    policy_file.write_text(json.dumps(node_controller_policy(node, controller), indent=2))
    run_tool(ctx, kms.cloakctl() + ["policy", "set", str(policy_file)], "cloakctl policy set")
    say(f"  host: attestation policy set: PCRs 0-7 pinned; AK {node['ak_fingerprint'][:16]}… "
        f"is the node, AK {controller['ak_fingerprint'][:16]}… the controller")

    text = f"cloak-e2e {os.urandom(8).hex()}: written by the pod"
    pvc = f"pvc-{uuid.uuid4()}"
    create = {"name": pvc, "capacity_range": {"required_bytes": str(REQUIRED_BYTES)},
              "volume_capabilities": [{"mount": {"fs_type": "ext4"},
                                       "access_mode": {"mode": "SINGLE_NODE_WRITER"}}],
              "parameters": {"integrity": "none", "csi.storage.k8s.io/pvc/name": "data",
                             "csi.storage.k8s.io/pvc/namespace": "demo"}}
    env = {"CLOAK_KMS_CA": kms.ca.read_text().strip(), "CLOAK_TEXT": text, "CLOAK_PVC": pvc,
           "CLOAK_CREATE": json.dumps(create, separators=(",", ":")),
           "CLOAK_REQUIRED": str(REQUIRED_BYTES)}
    first = narrated_boot(ctx, CREATE_AND_WRITE, local, forwards, env, "create")
    _, created = marker(ctx, first, "CLOAK-CREATED")
    volume = created["volume"]
    volume_id = volume["volume_id"]

    # Invariant 3: the disk holding the backing file has the LUKS2 header and the file's
    # name in plaintext (ext4 metadata), never the text the pod wrote or the key.
    check_scan_finds_planted_key(ctx)
    dek_before = stored_dek(kms, volume_id)
    digest = hashlib.sha256(dek_before).hexdigest()
    hits = scan_local(ctx, local, text, dek_before, volume_id)
    if "LUKS2 header" not in hits or "backing file name" not in hits:
        ctx.fail(f"the scan of {local.path} found no LUKS2 header or no backing file name "
                 f"({hits}): it would not have found the text either")
    say(f"  host: scanned {local.path.name}: LUKS2 header at offset {hits['LUKS2 header'][0]}, "
        f"the backing file's name in the ext4 directory; the pod's text and the volume's key "
        f"(SHA-256 {digest[:12]}…; raw, hex, base64) nowhere: only ciphertext")

    before = volume_info(ctx, kms, volume_id)
    if before["state"] != "formatted":
        ctx.fail(f"after the first stage the key service says {before['state']}, not formatted")
    say(f"  host: $ cloakctl volumes show {volume_id}: state {before['state']}, key version "
        f"{before['key_version']}, KEK version {before['kek_version']}")
    say("  host: $ cloakctl kek rotate --wait")
    rotation = run_tool(ctx, kms.cloakctl() + ["kek", "rotate", "--wait"], "cloakctl kek rotate",
                        timeout=300)
    for line in rotation.stdout.splitlines():
        say(f"         {line}")
    after = volume_info(ctx, kms, volume_id)
    if after["kek_version"] <= before["kek_version"]:
        ctx.fail(f"the rotation left {volume_id} under KEK version {after['kek_version']}")
    if after["key_version"] != before["key_version"] or stored_dek(kms, volume_id) != dek_before:
        ctx.fail("the KEK rotation changed the volume's key, not only its wrapping")
    say(f"  host: KEK version {before['kek_version']} -> {after['kek_version']}; key version "
        f"{after['key_version']} and the DEK (SHA-256 {digest[:12]}…) unchanged")

    env.update({"CLOAK_VOLUME_ID": volume_id,
                "CLOAK_VOLUME_CONTEXT": json.dumps(volume.get("volume_context", {}),
                                                   separators=(",", ":"))})
    second = narrated_boot(ctx, RESTAGE_AND_DELETE, local, forwards, env, "restage")
    refusal = next(line for line in second.output if line.startswith("CLOAK-RESTAGE "))
    scan_local(ctx, local, text, dek_before, volume_id)

    # Invariants 7 and 8: the audit tells who did what.
    audit = json.loads(run_tool(ctx, kms.cloakctl() + ["-o", "json", "audit", "list", "--limit",
                                                       "10000"], "cloakctl audit list").stdout)
    entries = audit["entries"]
    mine = [e for e in entries if e["volume_id"] == volume_id]

    def of(action, outcome="ok"):
        return [e for e in mine if e["action"] == action and e["outcome"] == outcome]

    creates, destroys, releases = of("CreateVolumeKey"), of("DestroyVolumeKey"), of("GetVolumeKey")
    if len(creates) != 1 or creates[0]["actor"] != controller_id:
        ctx.fail(f"CreateVolumeKey entries: {creates} (want one, by {controller_id})")
    if not destroys or destroys[0]["actor"] != controller_id:
        ctx.fail(f"DestroyVolumeKey entries: {destroys} (want one by {controller_id})")
    if len(releases) < 2 or any(e["actor"] != node_id for e in releases):
        ctx.fail(f"key releases: {releases} (want two or more, all to {node_id})")
    late = [e for e in releases if e["sequence"] > destroys[0]["sequence"]]
    if late:
        ctx.fail(f"a key was released after it was destroyed: {late}")
    # The restage after DeleteVolume found the file and was refused by the key service.
    refused = [e for e in mine if e["action"] == "GetVolumeKey" and e["outcome"] != "ok" and
               e["sequence"] > destroys[0]["sequence"]]
    if not refused or any(e["actor"] != node_id for e in refused):
        ctx.fail(f"no refused GetVolumeKey by {node_id} after the destroy: {mine}")
    attests = [e for e in entries if e["action"] == "Attest"]
    if any(e["details"].get("tee", "").lower() != "tpm" or e["actor"] not in (node_id,
                                                                             controller_id)
           for e in attests):
        ctx.fail(f"an attestation other than the two vTPM identities: {attests}")
    if not {node_id, controller_id} <= {e["actor"] for e in attests if e["outcome"] == "ok"}:
        ctx.fail(f"both identities should have attested: {attests}")
    shown = json.loads(run_tool(ctx, kms.cloakctl() + ["-o", "json", "volumes", "show",
                                                       volume_id], "cloakctl volumes show",
                                ok_codes=(0, 1)).stdout or "{}")
    if shown.get("state") != "destroyed":
        ctx.fail(f"after DeleteVolume the key service shows {volume_id} as {shown}")
    verified = run_tool(ctx, kms.cloakctl() + ["audit", "verify"], "cloakctl audit verify")
    verdict = verified.stdout.strip().splitlines()[-1]
    say(f"  host: audit: CreateVolumeKey #{creates[0]['sequence']} and DestroyVolumeKey "
        f"#{destroys[0]['sequence']} by {controller_id}; {len(releases)} key releases, all to "
        f"{node_id}; GetVolumeKey #{refused[0]['sequence']} refused ({refused[0]['outcome']}) "
        f"after the destroy; the key service now says: {shown['state']}")
    say(f"  host: $ cloakctl audit verify: {verdict}")

    # Invariant 1: no DEK in any console (which carry both plugins' logs) or the service log.
    for where in [boot.log for boot in ctx.boots] + [kms.log]:
        data = where.read_bytes()
        found = set(encodings_found(data, digest, len(dek_before)))
        found |= {name for name, needle in key_encodings(dek_before).items() if needle in data}
        if found:
            ctx.fail(f"{where} holds the DEK of {volume_id} ({', '.join(sorted(found))})")
    say(f"  host: the DEK is in none of the {len(ctx.boots)} consoles nor the key service's log")

    say("  summary:")
    for line in (
            f"CreateVolume {pvc} -> {volume_id}, {int(volume['capacity_bytes']) >> 20} MiB, "
            f"key created by {controller_id}",
            f"staged, published, written and read back by the pod; keys released only to "
            f"{node_id} ({len(releases)} times)",
            "the host's disk image held the LUKS2 header and ciphertext, never the pod's text "
            "or the key",
            f"KEK rotated {before['kek_version']} -> {after['kek_version']}: the volume "
            f"rewrapped, its DEK unchanged, restaged and read back",
            f"DeleteVolume destroyed the key, then the backing file; restaging a saved copy "
            f"was refused by the key service: {refusal.rsplit(f'volume {volume_id}: ', 1)[-1]}",
            f"{verdict}; no DEK in any console or the key service's log"):
        say(f"    - {line}")
