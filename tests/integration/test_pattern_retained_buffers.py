"""Pattern 3 (retained_buffers): small slices kept in a bounded log pin 64 KiB buffers."""

from __future__ import annotations

import http.client

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MESSAGES = 1500
RECENT = 1000  # the log's bound (--recent)


def post_messages(port: int, count: int, prefix: str) -> None:
    """``count`` messages with distinct ids, ~300-byte payloads, on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for i in range(count):
            conn.request("POST", "/ingest", body=f"{prefix}-{i} " + "p" * 300)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    finally:
        conn.close()


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_bounded_log_of_slices(start_sample, variant):
    """1,500 small messages: leaky pins ~64 MB of read buffers (RSS), fixed ~0.3 MB."""
    sample = start_sample("retained_buffers", variant, "--recent", str(RECENT))
    post_messages(sample.port, 50, "warm")
    base = sample.rss()
    post_messages(sample.port, MESSAGES, "m")
    after, stats = sample.rss(), sample.debug("/debug/recent")
    print(f"{variant}: rss {base / 1e6:.1f} -> {after / 1e6:.1f} MB; {stats}")
    assert stats["entries"] == RECENT
    assert stats["payload_bytes"] == RECENT * 300
    if variant == "leaky":
        assert stats["pinned_buffer_bytes"] == RECENT * 64 * 1024
        assert after - base > 50_000_000
    else:
        assert stats["pinned_buffer_bytes"] == 0
        assert after - base < 5_000_000


def test_replay_returns_the_payload(start_sample):
    """Both stores answer GET /messages/{id} with the payload bytes (the feature works)."""
    sample = start_sample("retained_buffers", "leaky")
    post_messages(sample.port, 3, "r")
    conn = http.client.HTTPConnection("127.0.0.1", sample.port, timeout=5)
    conn.request("GET", "/messages/r-2")
    assert conn.getresponse().read() == b"p" * 300
    conn.close()
