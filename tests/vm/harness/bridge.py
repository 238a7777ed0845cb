"""Run by QEMU's user network for each guest connection to a guestfwd address
(`guestfwd=tcp:IP:PORT-cmd:python3 bridge.py TARGET`): stdin/stdout are the guest's
connection; TARGET is tcp:127.0.0.1:PORT or unix:/path on the host. Copies bytes both ways
until either side closes. Writes nothing to stderr, which is the guest's connection too."""

import os
import select
import socket
import sys


def connect(target: str) -> socket.socket:
    kind, _, address = target.partition(":")
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address)
    elif kind == "tcp":
        host, _, port = address.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            raise SystemExit(2)  # only loopback services are reachable from the guest
        sock = socket.create_connection((host.strip("[]"), int(port)))
    else:
        raise SystemExit(2)
    return sock


def main() -> int:
    sock = connect(sys.argv[1])
    guest_in, guest_out = 0, 1
    open_in, open_out = True, True
    while open_in or open_out:
        readable = ([guest_in] if open_in else []) + ([sock] if open_out else [])
        ready, _, _ = select.select(readable, [], [])
        if guest_in in ready:
            data = os.read(guest_in, 65536)
            if data:
                sock.sendall(data)
            else:
                open_in = False
                sock.shutdown(socket.SHUT_WR)
        if sock in ready:
            data = sock.recv(65536)
            if data:
                os.write(guest_out, data)
            else:
                open_out = False
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
