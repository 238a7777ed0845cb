"""The scenario's key holder: a loopback TCP service that keeps guest-generated secrets in
the harness's memory between boots, so scenarios can reopen volumes after a reboot without
a key ever touching a host file, variable or command line. It also lets the host check that
no secret it holds appears in a disk image (invariant 3).

Protocol (one request per connection):
  PUT <name> <length>\\n<length bytes>   ->  OK\\n
  GET <name>\\n                          ->  the bytes, or nothing if unknown
"""

import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(256).decode("ascii", "replace").split()
        store = self.server.store
        if len(line) == 3 and line[0] == "PUT" and line[2].isdigit():
            data = self.rfile.read(int(line[2]))
            if len(data) == int(line[2]):
                with self.server.lock:
                    store[line[1]] = data
                self.wfile.write(b"OK\n")
                return
            self.wfile.write(b"ERR short\n")
        elif len(line) == 2 and line[0] == "GET":
            with self.server.lock:
                data = store.get(line[1], b"")
            self.wfile.write(data)
        else:
            self.wfile.write(b"ERR request\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class KeyHolder:
    def __init__(self):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.store = {}
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def get(self, name: str) -> bytes | None:
        with self._server.lock:
            return self._server.store.get(name)

    def items(self) -> dict[str, bytes]:
        with self._server.lock:
            return dict(self._server.store)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._server.lock:
            self._server.store.clear()
