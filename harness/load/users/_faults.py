"""Fault clients for any service: misbehaving TCP/HTTP peers that need no knowledge of it.

Each user connects only to the host Locust was given (``--host``, the proxy or the target),
opens a new connection every ``every`` seconds (at most ``max_open`` at once per user) and
misbehaves on each in its own way; the options come from the scenario's ``load.options``.
Every connection attempt is a Locust request event (``connect``), and so is every outcome
(``held``: the server dropped a connection we were holding, with how long it lasted), so the
run's request counts and error ratio say what the clients did. When a user stops (a phase
with fewer users, or the end of the run) it closes its connections, except
:class:`StalledClient`, whose sockets belong to vanished peers and stay open until the run
ends.

- :class:`StalledClient` (any TCP service): connects, sends ``payload`` (default nothing),
  then never reads, sends or closes: a peer that vanished without a FIN.
- :class:`SlowlorisClient` (HTTP): sends ``GET path HTTP/1.1`` and one more header line
  every ``header_every`` s, never the blank line that ends the request.
- :class:`SlowHttpReader` (HTTP): ``GET path`` with a tiny ``SO_RCVBUF`` (set before
  connect, so the window is small from the handshake on), reading ``read_bytes_per_s``.
- :class:`IdleKeepAliveClient` (HTTP/1.1): one keep-alive request, the whole response read,
  then the connection held idle.
- :class:`AbruptCloser` (any TCP service): sends ``payload`` (default a whole GET request),
  waits ``wait`` s, then closes with RST (``SO_LINGER`` 0) instead of FIN.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import User, constant, task

from harness.load._options import option
from harness.load.users._abandon import abandon, peer_closed
from harness.load.users._stream import _address, _Reporting

__all__ = [
    "AbruptCloser",
    "IdleKeepAliveClient",
    "SlowHttpReader",
    "SlowlorisClient",
    "StalledClient",
]

TICK = 0.2  # seconds between rounds over a user's open connections


def _text(value: Any) -> bytes:
    """An option string as bytes; ``\\r\\n`` written literally in YAML becomes CRLF."""
    return str(value).replace("\\r", "\r").replace("\\n", "\n").encode("latin-1")


@dataclass
class _Conn:
    sock: socket.socket
    opened: float = field(default_factory=time.perf_counter)
    due: float = 0.0  # monotonic time of the next action on it
    headers: int = 0
    budget: float = 0.0  # bytes a paced reader may read now


class _FaultClient(_Reporting, User):
    """Opens connections to the Locust host on a clock and misbehaves on each."""

    abstract = True
    wait_time = constant(0)
    kind = "TCP"
    default_every = 1.0
    default_max_open = 100

    def on_start(self) -> None:
        self.conns: list[_Conn] = []
        self.next_open = 0.0

    def open_count(self, now: float, max_open: int) -> int:
        """Connections this user holds now (toward ``max_open``)."""
        return len(self.conns)

    def request_line(self) -> bytes:
        host, port = _address(self.host)
        path = str(option("path", "/"))
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode("latin-1")

    def connect(self) -> socket.socket | None:
        """A new connection to the Locust host, reported; None when it failed."""
        host, port = _address(self.host)
        start = time.perf_counter()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            rcvbuf = self.receive_buffer()
            if rcvbuf:  # before connect: the window is small from the handshake on
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(float(option("connect_timeout", 3.0)))
            sock.connect((host, port))
            self.greet(sock)
        except OSError as exc:
            sock.close()
            self.report(self.kind, "connect", start, exc=exc)
            return None
        self.report(self.kind, "connect", start)
        return sock

    def receive_buffer(self) -> int:
        """SO_RCVBUF to set before connecting; 0: the OS default."""
        return 0

    def greet(self, sock: socket.socket) -> None:
        """What the client sends (and reads) right after connecting."""

    def serve(self, conn: _Conn, now: float) -> None:
        """One round on an open connection; OSError ends it as a failure."""

    @task
    def one_round(self) -> None:
        now = time.monotonic()
        max_open = int(option("max_open", self.default_max_open))
        if now >= self.next_open and self.open_count(now, max_open) < max_open:
            self.next_open = now + float(option("every", self.default_every))
            sock = self.connect()
            if sock is not None:
                self.opened(sock)
        for conn in list(self.conns):
            if peer_closed(conn.sock):  # the server let go: the outcome a fix should give
                self.drop(conn)
                continue
            try:
                self.serve(conn, now)
            except OSError as exc:
                self.drop(conn, exc)
        gevent.sleep(TICK)

    def opened(self, sock: socket.socket) -> None:
        sock.settimeout(0.0)  # rounds never block: a full buffer is the point
        self.conns.append(_Conn(sock, due=time.monotonic()))

    def drop(self, conn: _Conn, exc: BaseException | None = None) -> None:
        """The connection is over: reported as held for its lifetime, then closed."""
        self.conns.remove(conn)
        conn.sock.close()
        self.report(self.kind, "held", conn.opened, exc=exc)

    def on_stop(self) -> None:
        for conn in self.conns:
            conn.sock.close()
        self.conns.clear()


class StalledClient(_FaultClient):
    """A peer that vanished: connects, sends ``payload``, then silence and no FIN, ever."""

    def greet(self, sock: socket.socket) -> None:
        payload = _text(option("payload", ""))
        if payload:
            sock.sendall(payload)

    PRUNE_EVERY = 1.0  # seconds between looks for held sockets the server closed, at the cap

    def on_start(self) -> None:
        super().on_start()
        self.held: list[socket.socket] = []  # this user's abandoned sockets, still open
        self.pruned = 0.0

    def open_count(self, now: float, max_open: int) -> int:
        # Abandoned sockets count while the server still holds them; one it closed no longer
        # does (it stays open on our side, a vanished peer's socket, until the run ends).
        # Looked for only at the cap, once a second: a peek per socket is cheap, not free.
        if len(self.held) >= max_open and now - self.pruned >= self.PRUNE_EVERY:
            self.pruned = now
            self.held = [sock for sock in self.held if not peer_closed(sock)]
        return len(self.conns) + len(self.held)

    def opened(self, sock: socket.socket) -> None:
        abandon(sock)  # held (never read, never closed) until the run ends
        self.held.append(sock)


class SlowlorisClient(_FaultClient):
    """Sends an HTTP request one header line at a time, every ``header_every`` s, forever."""

    kind = "HTTP"

    def greet(self, sock: socket.socket) -> None:
        sock.sendall(self.request_line())

    def serve(self, conn: _Conn, now: float) -> None:
        if now < conn.due:
            return
        if conn.headers:  # the first header goes with the request line's round
            start = time.perf_counter()
            line = b"X-Slow-%d: %d\r\n" % (conn.headers, conn.headers)
            if conn.sock.send(line) != len(line):
                raise ConnectionError("the server stopped taking header bytes")
            self.report(self.kind, "header", start, length=len(line))
        conn.headers += 1
        conn.due = now + float(option("header_every", 5.0))


class SlowHttpReader(_FaultClient):
    """``GET path`` read ``read_bytes_per_s`` at a time through a tiny receive buffer."""

    kind = "HTTP"
    default_max_open = 1  # one slow download per user at a time

    def receive_buffer(self) -> int:
        return int(option("rcvbuf", 4096))

    def greet(self, sock: socket.socket) -> None:
        sock.sendall(self.request_line() + b"\r\n")

    def serve(self, conn: _Conn, now: float) -> None:
        conn.budget = min(conn.budget + float(option("read_bytes_per_s", 64.0)) * TICK, 65536)
        if conn.budget < 1:
            return
        start = time.perf_counter()
        try:
            data = conn.sock.recv(int(conn.budget))
        except BlockingIOError:
            return
        if not data:  # the whole response (or the server closed): a new download
            self.drop(conn)
            return
        conn.budget -= len(data)
        self.report(self.kind, "read", start, length=len(data))


class IdleKeepAliveClient(_FaultClient):
    """One HTTP/1.1 keep-alive request, its response read, then the connection left idle."""

    kind = "HTTP"

    def greet(self, sock: socket.socket) -> None:
        sock.sendall(self.request_line() + b"Connection: keep-alive\r\n\r\n")
        _read_response(sock)


def _read_response(sock: socket.socket) -> None:
    """Read one HTTP response with a Content-Length (or none) to its end; OSError if short."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ConnectionError("chunked responses are not supported: use a sized path")
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            raise ConnectionError("the server closed in the middle of the response body")
        body += chunk


class AbruptCloser(_FaultClient):
    """Sends ``payload`` (default: a whole GET), waits ``wait`` s, then resets (RST)."""

    default_every = 0.2
    default_max_open = 1_000

    def greet(self, sock: socket.socket) -> None:
        payload = option("payload", None)
        sock.sendall(self.request_line() + b"\r\n" if payload is None else _text(payload))
        # SO_LINGER on, 0 s: close() discards anything unsent and sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def serve(self, conn: _Conn, now: float) -> None:
        if time.perf_counter() - conn.opened >= float(option("wait", 0.0)):
            start = time.perf_counter()
            self.conns.remove(conn)
            conn.sock.close()  # RST
            self.report(self.kind, "reset", start)
