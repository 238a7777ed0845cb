"""The harness's own devices: a vTPM from swtpm that answers TPM2_GetRandom and keeps its
state between boots, and a restricted network that reaches a host unix-socket service
through guestfwd but nothing else."""

import pathlib
import socket
import threading

from harness.vm import Forward

DESCRIPTION = "vTPM (swtpm) answers in the guest; guestfwd reaches a host unix socket only"

GUEST = """
step "vTPM"
[ -c /dev/tpm0 ] && [ -c /dev/tpmrm0 ] || fail "no /dev/tpm0 or /dev/tpmrm0"
# TPM2_GetRandom(8): tag 0x8001, size 12, command code 0x17b, bytesRequested 8.
exec 3<>/dev/tpmrm0
printf '\\200\\001\\000\\000\\000\\014\\000\\000\\001\\173\\000\\010' >&3
dd bs=64 count=1 <&3 2>/dev/null > /tmp/tpm.out
exec 3<&-
head -c 12 /tmp/tpm.out | hexdump -C | head -1
[ "$(head -c 12 /tmp/tpm.out | od -An -tx1 | tr -d ' \\n')" = 800100000014000000000008 ] ||
  fail "unexpected TPM2_GetRandom response"

step "host service through guestfwd (unix socket)"
reply=$(echo "ping from guest" | nc 10.0.2.100 8443)
[ "$reply" = "pong: ping from guest" ] || fail "unexpected reply from the host service: $reply"

step "nothing else is reachable"
# The host also serves on 127.0.0.1:$CLOAK_HOST_PORT, which an unrestricted user network
# would expose as 10.0.2.2:$CLOAK_HOST_PORT.
for target in "10.0.2.2 $CLOAK_HOST_PORT" "10.0.2.2 22" "10.0.2.2 8443" "10.0.2.3 53" "10.0.2.100 8444" "192.0.2.1 443"; do
  reply=$(echo probe | timeout 5 nc -w 3 $target 2>&1) || true
  echo "$target: ${reply:-no answer}"
  case "$reply" in pong*) fail "$target answered like the host service" ;; esac
done
step "ok"
"""


def _pong_server(path: pathlib.Path | None) -> socket.socket:
    if path is None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
    else:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
    server.listen(4)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"pong: " + data)

    threading.Thread(target=serve, daemon=True).start()
    return server


def run(ctx):
    sock_path = ctx.workdir / "service.sock"
    server = _pong_server(sock_path)
    unforwarded = _pong_server(None)
    try:
        disk = ctx.disk("scratch", "16M")
        forwards = [Forward(8443, f"unix:{sock_path}")]
        env = {"CLOAK_HOST_PORT": str(unforwarded.getsockname()[1])}
        ctx.boot(GUEST, [disk], tpm=True, forwards=forwards, env=env, label="devices",
                 timeout=180)
        if not any((ctx.workdir / "tpm").iterdir()):
            ctx.fail("swtpm kept no state")
    finally:
        server.close()
        unforwarded.close()
