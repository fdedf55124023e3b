"""Pattern 2 (slow_reader): clients that read slowly grow unbounded queues without a deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from harness.scenario import Fault

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 5
CHAOS_S = 12.0  # the kernel send buffer (up to 4 MB a socket) absorbs the first ~5 s
FEED = ("--rate", "100", "--payload-bytes", "8192")  # ~830 KB/s to every subscriber


def slow_readers(port: int, n: int, stop: threading.Event) -> list[socket.socket]:
    """``n`` clients of /stream with a 4 KiB receive buffer reading ~32 bytes a second."""
    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(2.0)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        socks.append(sock)

    def trickle() -> None:
        while not stop.wait(0.5):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.recv(16)

    threading.Thread(target=trickle, daemon=True).start()
    return socks


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_slow_readers_behind_a_bandwidth_toxic(start_sample, toxiproxy, variant):
    """Slow readers + bandwidth toxic: leaky queues grow by MBs, fixed stays bounded."""
    sample = start_sample("slow_reader", variant, *FEED)
    port = toxiproxy.proxy("front", sample.port)
    toxiproxy.client.add_fault("front", Fault(proxy="front", type="bandwidth",
                                              stream="downstream", attributes={"rate": 16}))
    base_rss = sample.rss()
    stop = threading.Event()
    socks = slow_readers(port, N, stop)
    try:
        time.sleep(CHAOS_S)
        stats, rss = sample.debug("/debug/stream"), sample.rss()
        print(f"{variant}: rss {base_rss / 1e6:.1f} -> {rss / 1e6:.1f} MB; {stats}")
        if variant == "leaky":
            assert stats["subscribers"] == N
            assert stats["queued_bytes"] > N * 1_000_000  # > 1 MB per slow client
            assert rss - base_rss > 10_000_000
        else:
            assert stats["queued_bytes"] <= N * 64 * 2200  # QUEUE_MAX frames at most
            assert stats["subscribers"] < N  # the write deadline disconnected slow clients
            assert rss - base_rss < 5_000_000
    finally:
        stop.set()
        for sock in socks:
            sock.close()


def test_fast_reader_keeps_up_without_a_fault(start_sample):
    """Control: a client reading at full speed sees no backlog in either variant."""
    sample = start_sample("slow_reader", "leaky", *FEED)
    with socket.create_connection(("127.0.0.1", sample.port), timeout=5) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got, deadline = 0, time.monotonic() + 3.0
        while time.monotonic() < deadline:
            got += len(sock.recv(65536))
        stats = sample.debug("/debug/stream")
    print(f"read {got} bytes in 3 s; {stats}")
    assert got > 1_500_000
    assert stats["queued_bytes"] < 100_000
