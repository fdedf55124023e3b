"""Streaming user classes (WebSocket, raw HTTP streams, stalled clients, slow readers).

Each user reads ``self.host`` (``http://127.0.0.1:PORT``, the proxy in front of the target)
and its knobs from the scenario's ``load.options`` (defaults below). Every exchange is
reported through ``environment.events.request`` so the latency windows see it.

- :class:`WebSocketStreamUser`: one long-lived WebSocket (``ws_path``), ``ping <n>`` every
  ``interval`` s, waits ``reply_timeout`` s for ``pong <n>`` (skipping pushed ticks); on
  failure it closes and reconnects.
- :class:`StalledStreamUser`: the same, but a connection that stops answering is abandoned
  the way a vanished peer leaves it: never closed, never read, held open until Locust stops
  (``test_stop``/``quitting``), so no FIN ever reaches the server. Then it reconnects.
- :class:`StreamReaderUser`: one long-lived HTTP stream (``stream_path``) read as fast as it
  comes (``read_bytes_per_s: 0``) or paced; reports bytes read per ``report_every`` s.
- :class:`SlowReaderUser`: the same with a small receive buffer (``rcvbuf``) reading
  ``read_bytes_per_s`` (a few bytes a second by default): a phone on a bad link.
- :class:`MessageProducerUser`: sends ``rate`` messages a second on a WebSocket
  (``ws_path``, ``job <n> <payload>``) without waiting, and times each reply
  (``done <n>``) from a reader greenlet.
- :class:`IngestUser`: POSTs ``<id> <payload>`` messages with fresh ids to ``ingest_path``.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from locust import FastHttpUser, User, constant, task

from harness.load._inflight import in_flight
from harness.load._options import option
from harness.load.users._abandon import abandon

__all__ = [
    "IngestUser",
    "MessageProducerUser",
    "SlowReaderUser",
    "StalledStreamUser",
    "StreamReaderUser",
    "WebSocketStreamUser",
]

MAX_UNANSWERED = 10_000  # jobs a producer remembers while waiting for their replies


def _address(host: str | None) -> tuple[str, int]:
    parts = urlsplit(host or "http://127.0.0.1:80")
    return parts.hostname or "127.0.0.1", parts.port or 80


class _Reporting:
    """Mixin: one place that turns an exchange into a Locust request event."""

    environment: Any

    def report(self, kind: str, name: str, start: float, length: int = 0,
               exc: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=(time.perf_counter() - start) * 1000,
            response_length=length, exception=exc, context={},
        )


class WebSocketStreamUser(_Reporting, User):
    """A well-behaved stream client: ping/pong on one long-lived WebSocket."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.ws: websocket.WebSocket | None = None
        self.raw: socket.socket | None = None  # a second handle on the TCP connection
        self.seq = 0

    def connect(self) -> websocket.WebSocket:
        host, port = _address(self.host)
        timeout = float(option("connect_timeout", 3.0))
        start = time.perf_counter()
        sock = socket.create_connection((host, port), timeout=timeout)
        self.raw = sock.dup()  # websocket-client closes ``sock`` on a failed handshake
        try:
            ws = websocket.create_connection(
                f"ws://{host}:{port}{option('ws_path', '/ws/stream')}", timeout=timeout,
                socket=sock)
        except Exception as exc:
            self.report("WS", "connect", start, exc=exc)
            self.give_up()
            raise
        self.report("WS", "connect", start)
        return ws

    def give_up(self) -> None:
        """The connection is no good: close it (a vanished peer overrides this)."""
        if self.ws is not None:
            self.ws.close(timeout=0.5)
        if self.raw is not None:
            self.raw.close()
        self.ws = self.raw = None

    @task
    def exchange(self) -> None:
        if self.ws is None:
            try:
                self.ws = self.connect()
            except Exception:  # reported; try again next round
                gevent.sleep(float(option("retry_after", 0.5)))
                return
        self.seq += 1
        want = f"pong {self.seq}"
        start = time.perf_counter()
        deadline = start + float(option("reply_timeout", 2.0))
        with in_flight("WS", "ping"):  # a ping stuck at a phase edge counts there, failed
            try:
                self.ws.send(f"ping {self.seq}")
                while True:
                    self.ws.settimeout(max(0.01, deadline - time.perf_counter()))
                    if self.ws.recv() == want:
                        break
            except Exception as exc:
                self.report("WS", "ping", start, exc=exc)
                self.give_up()
                return
            self.report("WS", "ping", start, length=len(want))
        gevent.sleep(float(option("interval", 0.5)))

    def on_stop(self) -> None:
        WebSocketStreamUser.give_up(self)  # a stopping user closes politely


class StalledStreamUser(WebSocketStreamUser):
    """A client whose network vanished: the stalled connection is left open and silent."""

    def give_up(self) -> None:
        if self.raw is not None:
            abandon(self.raw)  # no close, no FIN: the peer just went away
        if self.ws is not None and self.ws.sock is not None:
            abandon(self.ws.sock)
        self.ws = self.raw = None


class StreamReaderUser(_Reporting, User):
    """A long-lived reader of an HTTP stream (``GET stream_path``)."""

    wait_time = constant(0)
    default_rcvbuf = 0  # 0: the OS default
    default_read_bytes_per_s = 0.0  # 0: as fast as it arrives

    def _open(self) -> socket.socket:
        host, port = _address(self.host)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        rcvbuf = int(option("rcvbuf", self.default_rcvbuf))
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(float(option("read_timeout", 30.0)))
        sock.connect((host, port))
        path = option("stream_path", "/stream")
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        return sock

    @task
    def read_stream(self) -> None:
        rate = float(option("read_bytes_per_s", self.default_read_bytes_per_s))
        chunk = int(option("read_size", 65536 if rate <= 0 else max(1, min(65536, rate / 4))))
        every = float(option("report_every", 1.0))
        start = time.perf_counter()
        try:
            sock = self._open()
        except OSError as exc:
            self.report("STREAM", "open", start, exc=exc)
            gevent.sleep(1.0)
            return
        self.report("STREAM", "open", start)
        try:
            window, got = time.perf_counter(), 0
            while True:
                data = sock.recv(chunk)
                if not data:
                    raise ConnectionError("the server closed the stream")
                got += len(data)
                if rate > 0:
                    gevent.sleep(len(data) / rate)
                if time.perf_counter() - window >= every:
                    self.report("STREAM", "read", window, length=got)
                    window, got = time.perf_counter(), 0
        except OSError as exc:  # closed by the server, a deadline, a reset
            self.report("STREAM", "read", start, exc=exc)
        finally:
            sock.close()


class SlowReaderUser(StreamReaderUser):
    """A stream reader on a bad link: tiny receive buffer, a few bytes a second."""

    default_rcvbuf = 4096
    default_read_bytes_per_s = 64.0


class MessageProducerUser(_Reporting, User):
    """Sends ``rate`` jobs a second on one WebSocket; a reader greenlet times the replies."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.ws: websocket.WebSocket | None = None
        self.sent: dict[str, float] = {}
        self.reader: Any = None  # the reply-reading greenlet

    def _read_replies(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                text = ws.recv()
            except Exception:
                return
            verdict, _, job = str(text).partition(" ")
            start = self.sent.pop(job, None)
            if start is not None:
                failed = None if verdict == "done" else RuntimeError(str(text))
                self.report("WS", "job", start, length=len(text), exc=failed)

    @task
    def produce(self) -> None:
        host, port = _address(self.host)
        if self.ws is None:
            start = time.perf_counter()
            try:
                self.ws = websocket.create_connection(
                    f"ws://{host}:{port}{option('ws_path', '/ws/jobs')}",
                    timeout=float(option("connect_timeout", 5.0)))
                self.ws.settimeout(None)
            except Exception as exc:
                self.report("WS", "connect", start, exc=exc)
                gevent.sleep(1.0)
                return
            self.report("WS", "connect", start)
            self.reader = gevent.spawn(self._read_replies, self.ws)
        payload = "x" * int(option("payload_bytes", 200))
        key = f"{id(self)}-{len(self.sent)}-{time.monotonic_ns()}"
        start = time.perf_counter()
        try:
            self.ws.send(f"job {key} {payload}")  # blocks when the server stops reading
        except Exception as exc:
            self.report("WS", "send", start, exc=exc)
            self.on_stop()
            return
        self.sent[key] = start
        if len(self.sent) > MAX_UNANSWERED:  # the load side must not leak either
            self.sent.pop(next(iter(self.sent)))
        self.report("WS", "send", start, length=len(payload))
        gevent.sleep(1.0 / float(option("rate", 10.0)))

    def on_stop(self) -> None:
        if self.ws is not None:
            self.ws.close(timeout=0.5)
        if self.reader is not None:
            self.reader.kill(block=False)
        self.ws, self.reader = None, None
        self.sent.clear()


class IngestUser(_Reporting, FastHttpUser):
    """POSTs ``<id> <payload>`` to ``ingest_path`` with a fresh id each time."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.n = 0

    @task
    def ingest(self) -> None:
        self.n += 1
        body = f"{id(self):x}-{self.n} " + "p" * int(option("payload_bytes", 300))
        self.client.post(str(option("ingest_path", "/ingest")), data=body, name="ingest")
        gevent.sleep(1.0 / float(option("rate", 20.0)))
