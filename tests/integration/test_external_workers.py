"""External Locust workers (``attach.locust``): the harness runs the master only; real workers
started elsewhere (here: processes with none of the run's environment, as a pod would be)
download the run's locustfile from it, and their windows are merged as local workers' are."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from harness.load import LocustRun
from harness.runfolder import read_latency
from harness.scenario import Scenario, scenario_from_dict
from harness.testing import ManagedProcess, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

WORKER_COUNT = re.compile(r"this worker recorded (\d+) requests in all \((\d+) failed\)")


def external_scenario(port: int, workers: int, timeout: str, phases: list[dict[str, object]],
                      ) -> Scenario:
    return scenario_from_dict({
        "name": "external-workers", "target": {"sample": "healthy"},
        "load": {"user": "HttpApiUser", "users": 6, "spawn_rate": 100, "workers": workers,
                 "options": {"path": "/api/item/3"}},
        "phases": phases,
        "attach": {"toxiproxy": "http://127.0.0.1:9",
                   "locust": {"bind": f"127.0.0.1:{port}", "timeout": timeout}},
    })


def worker(i: int, port: int, tmp_path: Path) -> ManagedProcess:
    """``locust --worker -f -`` as the chart's worker pods run it: its own working and temp
    folder (the downloaded locustfile lands there), no HARNESS_* variable of the run."""
    home = tmp_path / f"worker-{i}"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(TMPDIR=str(home), PYTHONUNBUFFERED="1")
    proc = ManagedProcess(f"ext-worker-{i}", [
        sys.executable, "-m", "locust", "--worker", "-f", "-", "--master-host", "127.0.0.1",
        "--master-port", str(port), "--loglevel", "INFO"],
        log_dir=tmp_path / "ext-logs", env=env, cwd=home, role="load")
    proc.start()
    return proc


def test_two_external_workers_counts_add_up_to_the_merged_count(start_sample, tmp_path):
    """The master waits for 2 external workers, which fetch the run's locustfile; the
    request count written is the sum of what each worker says it recorded."""
    target = start_sample("healthy", "fixed")
    port = free_port()
    scenario = external_scenario(port, 2, "60s", [{"name": "busy", "duration": 6},
                                                  {"name": "idle", "duration": 2, "users": 0}])
    run_dir = tmp_path / "run"
    run = LocustRun(scenario, target.url, run_dir, t0=time.time())
    workers: list[ManagedProcess] = []
    try:
        run.start()
        assert [p.name for p in run.processes] == ["locust-master"]
        workers = [worker(i, port, tmp_path) for i in (1, 2)]
        assert run.wait_ready(60), run.failure
        assert json.loads((run_dir / ".locust-ready").read_text())["workers"] == 2
        run.begin(time.time() + 0.2)
        assert wait_until(lambda: run.exited() is not None, scenario.duration + 30)
        assert run.exited() == 0
        # the master's quit ends the workers (the chart's pods then wait for the next run)
        assert wait_until(lambda: all(w.poll() is not None for w in workers), 20)
    finally:
        run.stop()
        for w in workers:
            w.stop()
    counts = []
    for w in workers:
        found = WORKER_COUNT.findall(w.log_path.read_text())
        assert found, f"{w.name} never said what it recorded:\n{w.tail()}"
        counts.append(int(found[-1][0]))
    assert all(c > 0 for c in counts), counts
    table = read_latency(run_dir / "latency.csv")
    assert int(table.requests.sum()) == sum(counts), (int(table.requests.sum()), counts)
    master_log = (run_dir / "logs" / "locust-master.log").read_text()
    assert "no final latency windows" not in master_log
    assert "arrived after their second was written" not in master_log


def test_external_workers_that_never_connect_fail_clearly(tmp_path):
    """No worker connects within attach.locust.timeout: wait_ready is False and the failure
    says how many were expected, where, and how many came."""
    port = free_port()
    scenario = external_scenario(port, 2, "3s", [{"name": "busy", "duration": 5}])
    run = LocustRun(scenario, "http://127.0.0.1:9", tmp_path, t0=time.time())
    try:
        run.start()
        started = time.monotonic()
        assert run.wait_ready(60) is False
        # the master gives up after 3 s; 45 s of slack for a busy machine's Locust start-up
        assert time.monotonic() - started < 3 + 45
    finally:
        run.stop()
    failure = run.failure or ""
    assert f"2 external Locust worker(s) (load.workers) were expected to connect to the " \
           f"master on 127.0.0.1:{port} within 3s; 0 connected" in failure, failure
    assert "Gave up waiting for workers" in failure, failure
