"""A service whose `GET /health` (and `HEAD /health`) starts answering 200 at a known instant.

Usage: python3 health_server.py PORT READY_FILE DELAY_SECONDS

It sleeps DELAY_SECONDS without listening (connections are refused, as with most servers that are
still starting), then binds and listens, writes `time.time_ns()` of that instant to READY_FILE (via
a rename, so a reader never sees half a number), and serves. Connections that arrive between the
listen and the first accept wait in the backlog and are answered, so the instant is when the port
starts answering.
"""

import http.server
import os
import sys
import time

port, ready_file, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
time.sleep(delay)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bool) -> None:
        ok = self.path.split("?")[0] == "/health"
        payload = b"ok\n" if ok else b"not found\n"
        self.send_response(200 if ok else 404)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def log_message(self, *args) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
instant = time.time_ns()
with open(ready_file + ".tmp", "w") as f:
    f.write(str(instant))
os.rename(ready_file + ".tmp", ready_file)
print(f"answering on /health since {instant}", flush=True)
server.serve_forever()
