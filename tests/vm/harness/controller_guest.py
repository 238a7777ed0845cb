"""Pieces for scenarios that run the CSI controller beside the node plugin in one guest:
the two vTPM identities (the node's AK and the controller's AK are separate persistent keys
of one vTPM, so the attestation policy gives them different roles), the policy naming
them, the guest shell that starts cloak-csi --mode controller and calls it, and live
narration of the guest's step lines on the host's stdout.

Prepend NODE_GUEST_LIB + CONTROLLER_GUEST_LIB to a guest script. It expects a disk named
"local" ($CLOAK_DISK_LOCAL), $CLOAK_KMS_CA, and the key service at 10.0.2.100:7443."""

import pathlib
import sys
import threading

from .services import marker

NODE_AK_HANDLE = "0x81010002"  # cloak-csi --tpm-ak-handle default
CONTROLLER_AK_HANDLE = "0x81010003"  # cloak-csi --controller-tpm-ak-handle default

IDENTITIES_SCRIPT = f"""
step "vTPM identities: the node's AK at {NODE_AK_HANDLE}, the controller's at {CONTROLLER_AK_HANDLE}"
out=$(kms_attest_tool identity --tcti device:/dev/tpmrm0 --ak-handle {NODE_AK_HANDLE}) ||
  fail "node identity: $out"
echo "CLOAK-IDENTITY-NODE $out"
out=$(kms_attest_tool identity --tcti device:/dev/tpmrm0 --ak-handle {CONTROLLER_AK_HANDLE}) ||
  fail "controller identity: $out"
echo "CLOAK-IDENTITY-CONTROLLER $out"
"""


def guest_identities(ctx, forwards, disks, pcrs=range(8)) -> tuple[dict, dict]:
    """Boots once and reads (node, controller): each {"ak_fingerprint", "pcrs"}. The AKs
    are created at their handles and persist in the vTPM for the scenario's later boots,
    which must attach the same disks and forwards (guest_identity's docstring says why)."""
    with Narration(ctx, "identity"):
        boot = ctx.boot(IDENTITIES_SCRIPT, list(disks), binaries=["kms_attest_tool"], tpm=True,
                        forwards=forwards, label="identity", timeout=240)
    _, node = marker(ctx, boot, "CLOAK-IDENTITY-NODE")
    _, controller = marker(ctx, boot, "CLOAK-IDENTITY-CONTROLLER")
    for who, identity in (("node", node), ("controller", controller)):
        if sorted(identity["pcrs"]) != sorted(str(i) for i in pcrs):
            ctx.fail(f"the {who} AK quoted PCRs {sorted(identity['pcrs'])}, expected {list(pcrs)}")
    if node["ak_fingerprint"] == controller["ak_fingerprint"]:
        ctx.fail(f"the node and controller AKs are one key ({node['ak_fingerprint']})")
    if node["pcrs"] != controller["pcrs"]:
        ctx.fail("the two AKs of one vTPM quoted different PCR values")
    return node, controller


def node_controller_policy(node: dict, controller: dict, pcrs=range(8)) -> dict:
    """Policy pinning the guest's PCRs and its two AKs: "vm-node" (role node) and
    "vm-controller" (role controller)."""
    return {
        "version": 1,
        "tpm": {"pcrs": {str(i): [node["pcrs"][str(i)]] for i in pcrs},
                "trusted_aks": sorted({node["ak_fingerprint"], controller["ak_fingerprint"]})},
        "rules": [
            {"name": "vm-node", "role": "node",
             "match": {"tee": ["tpm"], "ak_fingerprints": [node["ak_fingerprint"]]}},
            {"name": "vm-controller", "role": "controller",
             "match": {"tee": ["tpm"], "ak_fingerprints": [controller["ak_fingerprint"]]}},
        ],
    }


def identity_name(role: str, rule: str, identity: dict) -> str:
    """The key service's name for an attested identity: <role>/<rule>@<16 hex>."""
    return f"{role}/{rule}@{identity['ak_fingerprint'][:16]}"


class Narration:
    """While a boot runs, prints its guest's step lines ("== ...") and notes ("-- ...") as
    they reach the console log, so a person watching sees the story unfold. Anything else
    printed meanwhile (the harness's line ending the boot) waits until the narration has
    caught up with the log, so the order on stdout is the order of events. Silent when the
    console is echoed anyway (-v)."""

    def __init__(self, ctx, label: str):
        self.path = pathlib.Path(ctx.logdir) / f"{label}.log"
        self.enabled = not ctx.echo
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.position, self.pending = 0, ""
        self.stdout = sys.stdout

    def __enter__(self):
        if self.enabled:
            sys.stdout = _CatchUp(self)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stop.set()
            self.thread.join(5)
            self.drain()
            sys.stdout = self.stdout
        return False

    def _follow(self) -> None:
        while not self.stop.wait(0.2):
            self.drain()

    def drain(self) -> None:
        """Prints the step lines the log gained since the last call."""
        with self.lock:
            try:
                with open(self.path, errors="replace") as handle:
                    handle.seek(self.position)
                    self.pending += handle.read()
                    self.position = handle.tell()
            except FileNotFoundError:
                return
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                if line.startswith("[") and "] " in line:
                    line = line.split("] ", 1)[1]  # the host's time stamp
                if line.startswith("== "):
                    self.stdout.write(f"  guest: {line[3:]}\n")
                elif line.startswith("-- "):
                    self.stdout.write(f"         {line[3:]}\n")
            self.stdout.flush()


class _CatchUp:
    """sys.stdout during a narrated boot: the narration first, then the text."""

    def __init__(self, narration: Narration):
        self.narration = narration

    def write(self, text: str) -> int:
        self.narration.drain()
        with self.narration.lock:
            return self.narration.stdout.write(text)

    def flush(self) -> None:
        self.narration.stdout.flush()

    def __getattr__(self, name):
        return getattr(self.narration.stdout, name)


CONTROLLER_GUEST_LIB = r"""
note() { printf '%s\n' "$@" | sed 's/^/-- /'; }

# open_local: the "local" disk (ext4, made on first use) at /disk; the local backend's
# directory /local (backing files and the controller's manifest) is /disk/local, the
# controller's state /disk/controller; both persist across boots.
open_local() {
  if [ "$(blkid -o value -s TYPE "$CLOAK_DISK_LOCAL" 2>/dev/null)" != ext4 ]; then
    mkfs.ext4 -q -F "$CLOAK_DISK_LOCAL" || fail "mkfs.ext4 on the local disk"
  fi
  mkdir -p /disk /local
  mount "$CLOAK_DISK_LOCAL" /disk || fail "mounting the local disk"
  mkdir -p /disk/local /disk/controller /disk/kept
  mount -o bind /disk/local /local || fail "bind-mounting /disk/local on /local"
  printf '%s\n' "$CLOAK_KMS_CA" > /tmp/kms-ca.pem
  mkdir -p /var/lib/cloak /csi /staging /pods
}
close_local() {
  sync
  umount /local
  umount /disk
}

# start_controller: cloak-csi --mode controller in the background ($CONTROLLER), ready
# when Probe answers. It attests with the vTPM's second AK (--controller-tpm-ak-handle).
start_controller() {
  cloak-csi --endpoint unix:///csi/controller.sock --mode controller --node-id vm-node \
    --state-dir /disk/controller --local-dir /local --kms-address 10.0.2.100:7443 \
    --kms-ca-file /tmp/kms-ca.pem --kms-server-name localhost --attester tpm \
    --log-format json 2>>/tmp/controller.log &
  CONTROLLER=$!
  wait_csi /csi/controller.sock /tmp/controller.log "the controller"
}
stop_controller() {
  kill -TERM "$CONTROLLER" 2>/dev/null || true
  wait "$CONTROLLER" 2>/dev/null || true
}

# ctl METHOD JSON: a Controller call; the response on stdout, exit 10 + gRPC code.
ctl() { cloak-csi-client --endpoint unix:///csi/controller.sock --timeout 300 controller "$@"; }

# json_str KEY: the first string value of KEY in the JSON on stdin (flat values only).
json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
# json_obj KEY: the first flat object value of KEY in the JSON on stdin.
json_obj() { sed -n "s/.*\"$1\":\({[^{}]*}\).*/\1/p" | head -n 1; }

# k8s_stage VOLUME CAPABILITY CONTEXT: NodeStageVolume as kubelet sends it, with the
# volume_context CreateVolume returned.
k8s_stage() {
  mkdir -p "/staging/$1"
  csi stage "{\"volume_id\":\"$1\",\"staging_target_path\":\"/staging/$1\",\"volume_capability\":$2,\"volume_context\":$3}"
}
"""
