"""A tiny HTTP target that stalls: every request arriving in the first second of each 10 s
of the wall clock waits until that second ends (a GC pause, a lock, a full disk flush).

Run as ``python stall_server.py PORT``; one thread per request, so a stall holds them all.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PERIOD = 10.0
STALL = 1.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # headers and body in one write (flushed per request): no Nagle wait
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        into = time.time() % PERIOD
        if into < STALL:
            time.sleep(STALL - into)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
