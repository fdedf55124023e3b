"""A fast HTTP target for the load benchmarks: Debian's nginx (one worker, ``return 200``).

A compiled server answers far more requests than Locust can send on this machine, so the
benchmarks measure the load generator and the harness, not the target (the bundled
single-process Python sample caps everything at ~1,600 req/s).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from harness.testing import ManagedProcess, free_port, wait_until  # noqa: E402
from tests.integration import third_party  # noqa: E402


def nginx_argv(folder: Path, port: int) -> list[str]:
    """Write an nginx config for ``port`` into ``folder``; the command that runs it: one
    worker answering ``ok`` to everything, keep-alive without limits, and a 1 h header
    timeout (stalled clients are held)."""
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        raise RuntimeError("nginx not found: run scripts/third-party-servers.sh (Debian's nginx)")
    return third_party.nginx_argv(
        folder, port, client_header_timeout="3600s", keepalive_timeout="600s",
        worker_connections=65536,
        http_extra="keepalive_requests 10000000;",
        location='location / { return 200 "ok\\n"; }')


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1.0) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def start_nginx(folder: Path) -> tuple[ManagedProcess, str]:
    """nginx on a free loopback port; the caller stops it."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = ManagedProcess(f"nginx-{port}", nginx_argv(folder, port), log_dir=folder).start()
    url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: answers(url), 20):
        proc.stop()
        raise RuntimeError(f"nginx did not start:\n{proc.tail()}")
    return proc, url


def start_toxiproxy(folder: Path, upstream: str) -> tuple[ManagedProcess, str, object]:
    """A toxiproxy-server with one proxy (no toxic) in front of ``upstream`` (host:port)."""
    from harness.chaos.toxiproxy import ToxiproxyClient
    from harness.tools import require_toxiproxy

    api = free_port()
    proc = ManagedProcess(f"toxiproxy-{api}", [str(require_toxiproxy().path), "-host", "127.0.0.1",
                                               "-port", str(api)],
                          log_dir=folder, role="control").start()
    client = ToxiproxyClient("127.0.0.1", api)
    if not wait_until(client.ping, 10):
        proc.stop()
        raise RuntimeError(f"toxiproxy did not start:\n{proc.tail()}")
    listen = free_port()
    client.create_proxy("front", listen=f"127.0.0.1:{listen}",
                        upstream=upstream.removeprefix("http://"))
    return proc, f"127.0.0.1:{listen}", client
