"""Pattern 1 (stalled_stream): silent peers park handlers without a read deadline."""

from __future__ import annotations

import base64
import os
import socket
import time
from collections.abc import Iterator

import pytest
import websocket

from harness.scenario import Fault
from harness.testing import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 20
IDLE_TIMEOUT = 3.0  # harness.samples.stalled_stream.IDLE_TIMEOUT


@pytest.fixture
def held() -> Iterator[list[object]]:
    """Sockets the test keeps open (a vanished peer never closes); closed at the end."""
    sockets: list[object] = []
    yield sockets
    for s in sockets:
        s.close()  # type: ignore[attr-defined]


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def wait_for(predicate, timeout: float) -> bool:
    return wait_until(predicate, timeout, interval=0.2)


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_silent_websocket_clients(start_sample, held, variant):
    """N WebSocket clients that subscribe then go silent: leaky keeps 2N tasks, fixed none."""
    sample = start_sample("stalled_stream", variant)
    base_tasks, base_fds = sample.settle(), sample.fds()
    for i in range(N):
        ws = websocket.create_connection(f"ws://127.0.0.1:{sample.port}/ws/stream", timeout=5)
        ws.send(f"subscribe q{i}")
        assert ws.recv() in (f"subscribed q{i}", "tick 1")
        held.append(ws)  # ...and never read or write again
    during = sample.tasks()
    assert during >= base_tasks + 2 * N  # handler + ticker per connection, both variants
    time.sleep(IDLE_TIMEOUT + 2.0)
    after, fds, tickers = sample.tasks(), sample.fds(), sample.task_count("tick")
    print(f"{variant}: tasks {base_tasks} -> {during} -> {after}; fds {base_fds} -> {fds}")
    if variant == "leaky":
        assert after >= base_tasks + 2 * N
        assert tickers >= N
        assert fds >= base_fds + N
    else:
        assert wait_for(lambda: sample.tasks() <= base_tasks + 2, 5.0)
        assert sample.task_count("tick") == 0
        assert sample.fds() <= base_fds + 2


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_silent_tcp_line_clients(start_sample, held, variant):
    """The raw TCP line protocol: silent clients park readline() in leaky, time out in fixed."""
    tcp_port = free_port()
    sample = start_sample("stalled_stream", variant, "--tcp-port", str(tcp_port))
    base = sample.settle()
    for i in range(N):
        sock = socket.create_connection(("127.0.0.1", tcp_port), timeout=5)
        sock.sendall(f"subscribe q{i}\n".encode())
        assert sock.recv(256)
        held.append(sock)
    during = sample.tasks()
    assert during >= base + 2 * N
    time.sleep(IDLE_TIMEOUT + 2.0)
    after = sample.tasks()
    print(f"{variant}: tasks {base} -> {during} -> {after}")
    if variant == "leaky":
        assert after >= base + 2 * N
        assert sample.task_count("tcp_stream_leaky") >= N
    else:
        assert wait_for(lambda: sample.tasks() <= base + 2, 5.0)


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_stalled_handshakes_through_toxiproxy(start_sample, toxiproxy, held, variant):
    """The scenario's fault: a 10 s downstream latency; clients give up without closing."""
    sample = start_sample("stalled_stream", variant)
    port = toxiproxy.proxy("front", sample.port)
    base = sample.settle()
    toxic = toxiproxy.client.add_fault("front", Fault(
        proxy="front", type="latency", stream="downstream", attributes={"latency": 10000}))
    for _ in range(N):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(upgrade_request(port))
        held.append(sock)  # the 101 is late; the client keeps the socket, silent
    assert wait_for(lambda: sample.task_count("tick") >= N, 5.0)
    during = sample.tasks()
    toxiproxy.client.remove_fault("front", toxic)  # the fault ends; the peers stay silent
    time.sleep(IDLE_TIMEOUT + 2.0)
    after = sample.tasks()
    print(f"{variant}: tasks {base} -> {during} -> {after}")
    if variant == "leaky":
        assert after >= base + 2 * N
    else:
        assert wait_for(lambda: sample.tasks() <= base + 2, 5.0)


def test_removing_a_timeout_toxic_closes_its_connections(start_sample, toxiproxy, held):
    """Why the scenario uses latency: Toxiproxy closes a timeout toxic's connections on removal."""
    sample = start_sample("stalled_stream", "leaky")
    port = toxiproxy.proxy("front", sample.port)
    base = sample.settle()
    toxic = toxiproxy.client.add_fault("front", Fault(
        proxy="front", type="timeout", stream="downstream", attributes={"timeout": 0}))
    for _ in range(N):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(upgrade_request(port))
        held.append(sock)
    assert wait_for(lambda: sample.task_count("tick") >= N, 5.0)
    toxiproxy.client.remove_fault("front", toxic)
    assert wait_for(lambda: sample.tasks() <= base + 2, 5.0)  # even the leaky handlers exit
