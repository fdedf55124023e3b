"""Pattern 6 (no_timeout): a stalled upstream parks a task per request without a timeout."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.scenario import Fault

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 30
CLIENT_TIMEOUT = 1.5
STALL = Fault(proxy="up", type="timeout", stream="upstream", attributes={"timeout": 0})


def call(url: str) -> tuple[float, int | None]:
    start = time.monotonic()
    # one session per call, closed here: a bare requests.get() that times out drops its
    # connection unclosed, and the ResourceWarning would surface in whichever test GC runs in
    with requests.Session() as session:
        try:
            status: int | None = session.get(url, timeout=CLIENT_TIMEOUT).status_code
        except requests.RequestException:
            status = None  # the client gave up
    return time.monotonic() - start, status


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_stalled_upstream_piles_up_tasks_in_leaky(start_sample, toxiproxy, variant):
    """N calls into a black-holed upstream: leaky keeps N tasks after the clients quit; fixed 0."""
    upstream = start_sample("upstream", "leaky", "--error-every", "0")
    up = toxiproxy.proxy("up", upstream.port)
    gateway = start_sample("no_timeout", variant, "--upstream", f"http://127.0.0.1:{up}")
    assert requests.get(f"{gateway.url}/api/item/1", timeout=5).ok
    before = gateway.settle()
    toxic = toxiproxy.client.add_fault("up", STALL)
    with ThreadPoolExecutor(max_workers=N) as pool:
        results = list(pool.map(call, [f"{gateway.url}/api/item/{i}" for i in range(N)]))
    during = gateway.tasks()
    time.sleep(3.0)  # the clients are gone; the stall goes on
    still = gateway.tasks()
    toxiproxy.client.remove_fault("up", toxic)  # Toxiproxy closes black-holed connections
    after = gateway.settle()
    slowest = max(t for t, _ in results)
    statuses = sorted({s for _, s in results}, key=str)
    print(f"{variant}: tasks before={before} during={during} still={still} after={after} "
          f"slowest={slowest:.2f}s statuses={statuses}")
    if variant == "leaky":
        assert statuses == [None]  # every client timed out
        assert during - before >= N and still - before >= N  # ...and the handlers stay
    else:
        assert set(statuses) <= {503, 504} and slowest < 1.0  # fast, honest failures
        assert still - before <= 2
    assert after - before <= 2  # the stall's end releases leaky's handlers too
