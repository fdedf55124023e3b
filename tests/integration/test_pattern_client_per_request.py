"""Pattern 5 (client_per_request): a ClientSession per request keeps a socket per request."""

from __future__ import annotations

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 40


def token(i: int) -> dict[str, str]:
    """A short-lived caller token: a new one per request, as the Locust users send."""
    return {"Authorization": f"Bearer t{i}"}


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_each_request_leaves_a_socket_in_leaky(start_sample, variant):
    """N requests with fresh tokens leave >= N open sockets in leaky; the shared pool reuses one."""
    upstream = start_sample("upstream", "leaky", "--error-every", "0")
    gateway = start_sample("client_per_request", variant, "--upstream", upstream.url)
    with requests.Session() as http:
        assert http.get(f"{gateway.url}/api/item/0", headers=token(-1), timeout=5).ok
        # at rest: a warm-up connection still closing would inflate the baseline and eat the
        # leaky bound, which is exact (one forgotten session = one kept socket, N of them)
        before = gateway.settle_fds()
        for i in range(N):
            assert http.get(f"{gateway.url}/api/item/{i}", headers=token(i), timeout=5).ok
        after = gateway.settle_fds()
    print(f"{variant}: fds before={before} after={after}")
    if variant == "leaky":
        assert after - before >= N  # kept alive by each forgotten session's connector
    else:
        assert after - before <= 3
