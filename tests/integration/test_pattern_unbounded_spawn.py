"""Pattern 8 (unbounded_spawn): a task per message piles up behind a slow downstream."""

from __future__ import annotations

import time

import pytest
import websocket

from harness.scenario import Fault
from harness.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MESSAGES = 300
MAX_IN_FLIGHT = 16  # harness.samples.unbounded_spawn.MAX_IN_FLIGHT


def wait_for(predicate, timeout: float) -> bool:
    return wait_until(predicate, timeout, interval=0.2)


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_jobs_behind_a_stalled_downstream(start_sample, toxiproxy, variant):
    """300 jobs while the store is stalled: leaky holds ~300 tasks, fixed at most 16 jobs."""
    store = start_sample("healthy", "leaky")
    store_port = toxiproxy.proxy("store", store.port)
    sample = start_sample("unbounded_spawn", variant,
                          "--downstream", f"http://127.0.0.1:{store_port}/api/echo")
    ws = websocket.create_connection(f"ws://127.0.0.1:{sample.port}/ws/jobs", timeout=5)
    try:
        ws.send("job warm x")
        assert ws.recv() == "done warm"
        base = sample.settle()
        toxic = toxiproxy.client.add_fault("store", Fault(
            proxy="store", type="latency", stream="upstream", attributes={"latency": 60000}))
        for i in range(MESSAGES):
            ws.send(f"job {i} " + "x" * 200)
            time.sleep(0.005)
        time.sleep(1.0)
        during, jobs = sample.tasks(), sample.debug("/debug/jobs")
        toxiproxy.client.remove_fault("store", toxic)
        drained = wait_for(lambda: sample.debug("/debug/jobs")["in_flight"] == 0, 20.0)
        after = sample.settle()
        print(f"{variant}: tasks {base} -> {during} -> {after}; {jobs}")
        if variant == "leaky":
            assert jobs["in_flight"] >= MESSAGES - 5
            assert during >= base + MESSAGES - 5
            assert sample.task_count("process") == 0
        else:
            assert jobs["in_flight"] <= MAX_IN_FLIGHT
            assert during <= base + MAX_IN_FLIGHT + 5
        assert drained  # a pile-up, not a permanent leak: it drains once the store is fast
        assert after <= base + 5
    finally:
        ws.close()
