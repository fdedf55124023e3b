"""A tiny HTTP server on 127.0.0.1 for unit tests of HTTP clients: a child process (a
thread would be a greenlet once Locust, imported by other tests, has patched threading).

Every GET is answered from two files in ``folder``: ``status`` (e.g. ``200``) and ``body``;
a test changes them to change the answer.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.testing import free_port, wait_until

SERVER = r'''
import http.server, pathlib, sys
folder = pathlib.Path(sys.argv[1])

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = int((folder / "status").read_text())
        body = (folder / "body").read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass

http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
'''


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


@contextlib.contextmanager
def serve(folder: Path, status: int = 200, body: bytes = b"ok") -> Iterator[str]:
    """Start the server answering ``status``/``body``; yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "status").write_text(str(status))
    (folder / "body").write_bytes(body)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(folder), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(lambda: answers(url), 10):
            raise RuntimeError("the loopback HTTP server did not start")
        yield url
    finally:
        proc.kill()
        proc.wait(10)
