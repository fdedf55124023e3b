"""A two-endpoint HTTP target for the per-name tests: /fast answers at once, /slow after
600 ms, /hang only after 60 s (a request that never finishes in a test), /healthz for the
harness. Usage: python two_endpoints.py PORT (127.0.0.1 only)."""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_S = 0.6  # far from /fast even when a busy machine stretches /fast's tail
HANG_S = 60.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(SLOW_S)
        elif self.path.startswith("/hang"):
            time.sleep(HANG_S)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would flood the log


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops SYNs when the users connect at once (1 s retry)


def main() -> None:
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
