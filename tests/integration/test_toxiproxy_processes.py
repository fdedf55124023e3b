"""Several toxiproxy-server processes acting as one proxy (issue 14: more connections than one
process's open-file limit carries): faults reach every process, the load spreads over them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.run import RunOptions, run_scenario
from harness.runfolder import read_latency, read_samples
from harness.scenario import scenario_from_dict

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LATENCY_MS = 200


def test_two_toxiproxy_processes_share_the_load_and_every_fault(tmp_path: Path):
    """With toxiproxy_processes: 2 each server carries half the users' connections, and a
    latency fault slows every request (the median of each window, not only its tail)."""
    scenario = scenario_from_dict({
        "name": "two-toxiproxies",
        "target": {"name": "api", "sample": "healthy"},
        "proxies": [{"name": "front", "upstream": "api"}],
        "toxiproxy_processes": 2,
        "load": {"user": "HttpApiUser", "users": 4, "spawn_rate": 4},
        "phases": [
            {"name": "clean", "duration": "5s"},
            {"name": "slow", "duration": "6s", "faults": [
                {"proxy": "front", "type": "latency", "attributes": {"latency": LATENCY_MS}}]},
        ],
        "thresholds": {"p99_ms": {"max": 10000}},
    })
    run = tmp_path / "run"
    run_scenario(scenario, RunOptions(out=run, quiet=True))
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    started = [e["process"] for e in events if e["kind"] == "process_start"
               and e.get("role") == "control"]
    assert started == ["toxiproxy", "toxiproxy-2"]
    listens = [e["listen"] for e in events if e["kind"] == "proxy_created"]
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["proxy_listeners"]["front"] == listens and len(set(listens)) == 2
    # each server held its users' connections: two users' keep-alive sockets, two FDs each
    samples = read_samples(run / "samples.csv")
    for server in ("toxiproxy", "toxiproxy-2"):
        fds = samples[(server, "fds")].v
        assert fds.max() - fds.min() >= 4, (server, fds)
    # the fault was on both: a window inside the slow phase has its median slowed too (with
    # it on one server only, the two fast users' requests, ~10 times as many, set the median)
    at = {(e["kind"], e.get("phase")): e["t"] for e in events if e["kind"] in
          ("phase_start", "phase_end")}
    latency = read_latency(run / "latency.csv")
    inside = (latency.t >= at[("phase_start", "slow")] + 1.5) & (
        latency.t <= at[("phase_end", "slow")] - 0.5) & (latency.requests > 0)
    assert inside.sum() >= 2
    assert np.all(latency.p50_ms[inside] >= LATENCY_MS * 0.95), latency.p50_ms[inside]
    clean = (latency.t <= at[("phase_end", "clean")]) & (latency.requests > 0)
    assert np.median(latency.p50_ms[clean]) < LATENCY_MS / 2


def test_the_open_model_spreads_its_requests_over_the_processes(tmp_path: Path):
    """One open-model user sends every request of its process: with two toxiproxy-server
    processes its requests take their listen addresses in turn, so both carry connections
    (each request in flight holds one; 40 requests/s for 6 s)."""
    scenario = scenario_from_dict({
        "name": "open-two-toxiproxies",
        "target": {"name": "api", "sample": "healthy"},
        "proxies": [{"name": "front", "upstream": "api"}],
        "toxiproxy_processes": 2,
        "load": {"user": "OpenHttpUser", "arrival_rate": 40,
                 "options": {"path": "/healthz"}},
        "phases": [{"name": "steady", "duration": "6s"}],
    })
    run = tmp_path / "run"
    run_scenario(scenario, RunOptions(out=run, quiet=True))
    samples = read_samples(run / "samples.csv")
    for server in ("toxiproxy", "toxiproxy-2"):
        fds = samples[(server, "fds")].v
        assert fds.max() - fds.min() >= 2, (server, fds)
    latency = read_latency(run / "latency.csv")
    assert latency.requests.sum() >= 100 and latency.failures.sum() == 0
