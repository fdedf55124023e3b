"""HTTP user classes (API users against gateways and plain services)."""

from __future__ import annotations

import itertools
import random
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, between, task

from harness.load._options import option
from harness.load.users._abandon import abandon

__all__ = ["GatewayUser", "GoLeaksUser", "HttpApiUser"]

_COUNTER = itertools.count()


def _wait_range(value: Any) -> tuple[float, float]:
    low, high = value
    return float(low), float(high)


def _option_wait(user: Any) -> float:
    """``wait_time`` of a user that read ``load.options.wait`` into ``_wait`` (no random
    draw for a fixed wait such as ``[0, 0]``)."""
    low, high = user._wait
    return low if low == high else random.uniform(low, high)


class HttpApiUser(FastHttpUser):
    """Calls ``load.options.path`` (default ``/api/item/1``) in a loop.

    Options: ``path``, ``name`` (``api``), ``wait`` (``[min, max]`` seconds between calls,
    default ``[0.01, 0.05]``, so at most ~33 requests/s a user; ``[0, 0]`` for no wait).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # read once: a user with no wait makes thousands of requests a second
        self._path = str(option("path", "/api/item/1"))
        self._name = str(option("name", "api"))
        self._wait = _wait_range(option("wait", [0.01, 0.05]))

    wait_time = _option_wait

    @task
    def call(self) -> None:
        self.client.get(self._path, name=self._name)


class GatewayUser(FastHttpUser):
    """Calls a gateway route in a loop: ``path`` with ``{n}`` replaced by a counter.

    Options: ``path`` (default ``/api/item/{n}``), ``method`` (GET or POST), ``body`` (sent
    with POST, ``{n}`` replaced), ``fresh_token`` (a new ``Authorization`` per request, as
    short-lived tokens do), ``timeout`` (seconds before the user gives up, default 10),
    ``wait`` (``[min, max]`` seconds between calls, default ``[0.05, 0.1]``), ``name``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.network_timeout = self.connection_timeout = float(option("timeout", 10.0))
        super().__init__(*args, **kwargs)
        self._path = str(option("path", "/api/item/{n}"))
        self._fresh_token = bool(option("fresh_token", False))
        self._name = str(option("name", "gateway"))
        self._post = str(option("method", "GET")).upper() == "POST"
        self._body = str(option("body", '{"event": {n}}'))
        self._wait = _wait_range(option("wait", [0.05, 0.1]))

    wait_time = _option_wait

    @task
    def call(self) -> None:
        n = str(next(_COUNTER))
        path = self._path.replace("{n}", n)
        headers = {"Authorization": f"Bearer {uuid.uuid4().hex}"} if self._fresh_token else {}
        if self._post:
            self.client.post(path, data=self._body.replace("{n}", n), headers=headers,
                             name=self._name)
        else:
            self.client.get(path, headers=headers, name=self._name)


class GoLeaksUser(FastHttpUser):
    """Drives the Go sample: API calls (``/api/item/{n}``) and short line streams.

    The stream task opens ``GET /stream`` (hijacked into a line protocol), sends
    ``lines`` pings and waits up to ``ack_timeout`` s for each ack. A stream whose acks stop
    coming (a black-holed link) is abandoned as a vanished peer would be: left open and
    silent until Locust quits. Options: ``lines`` (5), ``ack_timeout`` (1.0), ``timeout``
    (API call timeout, 2.0).
    """

    wait_time = between(0.05, 0.1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.network_timeout = self.connection_timeout = float(option("timeout", 2.0))
        super().__init__(*args, **kwargs)

    @task(3)
    def api(self) -> None:
        self.client.get(f"/api/item/{next(_COUNTER)}", name="api")

    @task(1)
    def stream(self) -> None:
        url = urlsplit(self.host or "")
        start, sent = time.perf_counter(), 0
        sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80),
                                        timeout=float(option("ack_timeout", 1.0)))
        error: Exception | None = None
        reader = sock.makefile("rb")  # holds the fd open past sock.close() until it is closed
        try:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: goleaks\r\nConnection: Upgrade\r\n"
                         b"Upgrade: lines\r\n\r\n")
            while reader.readline() not in (b"\r\n", b""):
                pass
            for i in range(int(option("lines", 5))):
                sock.sendall(b"ping %d\n" % i)
                sent += 1
                if not reader.readline().startswith(b"ack"):
                    raise ConnectionError("stream closed by the server")
                time.sleep(0.05)
        except (OSError, ConnectionError) as exc:
            error = exc
        elapsed_ms = (time.perf_counter() - start) * 1000
        if isinstance(error, TimeoutError):
            abandon(sock)  # the peer vanished: no FIN ever reaches the server
        else:
            reader.close()
            sock.close()
        self.environment.events.request.fire(
            request_type="STREAM", name="stream", response_time=elapsed_ms,
            response_length=sent, exception=error, context={},
        )
