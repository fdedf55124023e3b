"""Third-party servers (Debian's nginx and redis-server) as test targets on 127.0.0.1.

Each runs as a child of the test with a generated config in a temp folder, and is stopped
(terminate, then kill) by the context manager that started it. ``scripts/third-party-servers.sh``
installs them (``make setup-test``); a test skips, naming the script, only when a binary is
still missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

BIG_FILE = "big.bin"
BIG_FILE_BYTES = 64 * 1024 * 1024  # far more than the kernel buffers on both sides hold


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip(f"{name} is not installed: run scripts/third-party-servers.sh (as root)")
    return found


@dataclass
class Server:
    """A running third-party server: its process, port and working folder."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connections(self) -> set[tuple[str, int]]:
        """Client addresses of the ESTABLISHED connections the server's process tree holds
        on its port (a master and its workers: whoever owns the socket)."""
        root = psutil.Process(self.process.pid)
        held: set[tuple[str, int]] = set()
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                for conn in proc.net_connections(kind="tcp"):
                    if (conn.status == psutil.CONN_ESTABLISHED and conn.raddr
                            and conn.laddr.port == self.port):
                        held.add((conn.raddr.ip, conn.raddr.port))
        return held

    def log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait_listening(server: Server, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port),
                                                                    timeout=0.5):
            return
        time.sleep(0.1)
    out = (server.folder / "stdout.log").read_text(errors="replace")
    pytest.fail(f"{server.name} did not listen on {server.port}:\n{out}\n{server.log()}")


@contextlib.contextmanager
def _running(name: str, argv: list[str], port: int, folder: Path) -> Iterator[Server]:
    with (folder / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = Server(name, port, proc, folder)
    try:
        _wait_listening(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


NGINX_CONF = """\
{user}daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;{http_extra}
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {folder}/www;
        client_header_timeout {client_header_timeout};
        keepalive_timeout {keepalive_timeout};
        send_timeout {send_timeout};{location}
    }}
}}
"""


@contextlib.contextmanager
def nginx(folder: Path, client_header_timeout: str = "60s", keepalive_timeout: str = "75s",
          send_timeout: str = "60s") -> Iterator[Server]:
    """nginx (master + one worker) serving ``/index.html`` and a 64 MiB ``/big.bin``."""
    port = free_port()
    argv = nginx_argv(folder, port, client_header_timeout=client_header_timeout,
                      keepalive_timeout=keepalive_timeout, send_timeout=send_timeout)
    www = folder / "www"
    (www / "index.html").write_text("<p>hello</p>\n")
    with (www / BIG_FILE).open("wb") as fh:
        fh.truncate(BIG_FILE_BYTES)  # sparse: no disk, nginx reads zeros
    with _running("nginx", argv, port, folder) as server:
        yield server


def nginx_argv(folder: Path, port: int, *, client_header_timeout: str = "60s",
               keepalive_timeout: str = "75s", send_timeout: str = "60s",
               worker_connections: int = 4096, http_extra: str = "", location: str = "",
               ) -> list[str]:
    """Write ``folder/nginx.conf`` (master + one worker on 127.0.0.1:``port``, files from
    ``folder/www``) and return the command that runs it in the foreground. ``http_extra``
    and ``location`` are lines added to the http and server blocks (the benchmarks' fast
    target: ``return 200``)."""
    exe = binary("nginx")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    (folder / "www").mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers can then read the temp folder
    (folder / "nginx.conf").write_text(NGINX_CONF.format(
        user=user, folder=folder, port=port, client_header_timeout=client_header_timeout,
        keepalive_timeout=keepalive_timeout, send_timeout=send_timeout,
        worker_connections=worker_connections,
        http_extra="".join(f"\n    {line}" for line in http_extra.splitlines()),
        location="".join(f"\n        {line}" for line in location.splitlines())))
    return [exe, "-p", str(folder), "-c", str(folder / "nginx.conf"),
            "-e", str(folder / "error.log")]


@contextlib.contextmanager
def redis(folder: Path, timeout: int) -> Iterator[Server]:
    """redis-server with ``timeout`` (0: idle clients are never closed), no persistence."""
    exe = binary("redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--timeout", str(timeout),
            "--save", "", "--appendonly", "no", "--dir", str(folder), "--daemonize", "no",
            "--logfile", str(folder / "error.log")]
    with _running("redis", argv, port, folder) as server:
        yield server
