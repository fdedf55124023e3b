"""Pattern 4 (response_leak): upstream responses never released on the early-return path."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 30  # large reports requested: each one is refused before its body is read


@pytest.fixture
def gateway(start_sample, toxiproxy, request):
    """upstream <- toxiproxy `up` <- response_leak gateway (variant from the test's param)."""
    upstream = start_sample("upstream", "leaky")
    up_port = toxiproxy.proxy("up", upstream.port)
    return start_sample("response_leak", request.param,
                        "--upstream", f"http://127.0.0.1:{up_port}")


@pytest.mark.parametrize("gateway", ["leaky", "fixed"], indirect=True)
def test_refused_large_reports_hold_one_fd_each_in_leaky(gateway):
    """N refused large reports leave >= N extra FDs in leaky; fixed stays within a few."""
    with requests.Session() as http:
        for i in range(5):  # warm the pool with small reports
            assert http.get(f"{gateway.url}/api/report/{3 * i + 1}", timeout=5).ok
        before = gateway.settle_fds()  # at rest: no warm-up connection still closing
        for i in range(N):
            resp = http.get(f"{gateway.url}/api/report/{3 * i}", timeout=5)
            assert resp.status_code == 502 and "too large" in resp.text
        time.sleep(1.0)
        after = gateway.fds()
        time.sleep(3.0)  # nothing to wait for: a leaked connection is never given back
        later = gateway.fds()
    kept = requests.get(f"{gateway.url}/debug/upstream-errors", timeout=5).json()["kept"]
    print(f"{gateway.variant}: fds before={before} after={after} later={later} kept={kept}")
    assert kept == N  # both variants remember the failures; only leaky keeps the sockets
    if gateway.variant == "leaky":
        assert later - before >= N - 2  # the first refusals may reuse pooled sockets
    else:
        assert later - before <= 5
