"""Pattern 7 (retry_storm): fire-and-forget retry chains grow with every failed request."""

from __future__ import annotations

import time

import pytest
import requests

from harness.scenario import Fault

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 20
RESET = Fault(proxy="up", type="reset_peer", stream="upstream", attributes={"timeout": 0})


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_resets_spawn_endless_retry_tasks_in_leaky(start_sample, toxiproxy, variant):
    """N events while the upstream resets: leaky keeps N retry chains alive; fixed none."""
    upstream = start_sample("upstream", "leaky")
    up = toxiproxy.proxy("up", upstream.port)
    gateway = start_sample("retry_storm", variant, "--upstream", f"http://127.0.0.1:{up}")
    url = f"{gateway.url}/api/events"
    assert requests.post(url, data=b'{"n": 0}', timeout=5).status_code == 202
    before = gateway.settle()
    toxic = toxiproxy.client.add_fault("up", RESET)
    with requests.Session() as http:
        statuses = {http.post(url, data=b'{"n": %d}' % i, timeout=5).status_code
                    for i in range(N)}
    time.sleep(3.0)  # three retry rounds
    during, chains = gateway.tasks(), gateway.task_count("deliver_later")
    toxiproxy.client.remove_fault("up", toxic)
    after = gateway.settle(timeout=10.0)
    print(f"{variant}: statuses={statuses} tasks before={before} during={during} "
          f"chains={chains} after={after}")
    if variant == "leaky":
        assert statuses == {202}  # the failure is hidden from the client...
        assert chains >= N and during - before >= N  # ...and retried forever meanwhile
    else:
        assert statuses == {503}
        assert chains == 0 and during - before <= 2
    assert after - before <= 2  # once the upstream heals, even leaky's chains finish
