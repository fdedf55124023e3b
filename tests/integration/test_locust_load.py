"""Real Locust processes (standalone, master + workers) against a real sample on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.load import LocustRun
from harness.runfolder import read_latency
from harness.scenario import Scenario, scenario_from_dict
from harness.testing import wait_until
from tests.conftest import processes_with_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def make_scenario(phases: list[dict[str, object]], workers: int = 0, users: int = 6,
                  user: str = "HttpApiUser") -> Scenario:
    return scenario_from_dict({
        "name": "load-it", "target": {"sample": "healthy"},
        "load": {"user": user, "users": users, "spawn_rate": 100, "workers": workers,
                 "options": {"path": "/api/item/7"}},
        "phases": phases,
    })


def start_run(scenario: Scenario, url: str, run_dir: Path, raw: bool = False) -> LocustRun:
    """A LocustRun that is ready and has begun; stopped by the caller."""
    run = LocustRun(scenario, url, run_dir, t0=time.time())
    if raw:
        run.extra_env["HARNESS_LOAD_RAW"] = "1"
    run.start()
    assert run.wait_ready(60), run.failure
    return run


def raw_times(run_dir: Path) -> dict[str, list[float]]:
    """Every response time each worker (or the standalone process) saw, by file."""
    out: dict[str, list[float]] = {}
    for path in sorted((run_dir / "raw").glob("*.csv")):
        out[path.name] = [float(line.split(",")[1]) for line in path.read_text().splitlines()]
    return out


def merged_histogram(run_dir: Path) -> HdrHistogram:
    lines = (run_dir / "latency.hdr").read_text().splitlines()[1:]
    total = HdrHistogram(1, 3_600_000_000, 3)
    for line in lines:
        total.add(HdrHistogram.decode(line.split(",", 1)[1]))
    return total


def test_standalone_plan_writes_a_row_per_second_and_exits_at_the_end(start_sample, tmp_path):
    """Two phases (users, then none): one row a second, requests only while users run, and
    Locust exits by itself when the plan is over."""
    target = start_sample("healthy", "fixed")
    scenario = make_scenario([{"name": "busy", "duration": 5},
                              {"name": "idle", "duration": 4, "users": 0}])
    run = start_run(scenario, target.url, tmp_path)
    try:
        load_start = time.time() + 0.5
        run.begin(load_start)
        plan_end = load_start + scenario.duration
        assert wait_until(lambda: run.exited() is not None, plan_end - time.time() + 15)
        assert run.exited() == 0
        assert time.time() - plan_end < 10
    finally:
        run.stop()
    table = read_latency(tmp_path / "latency.csv")
    assert np.allclose(np.diff(table.t), 1.0), "one row per second, no holes"
    starts = table.t + run.t0  # epoch start of each window
    busy_end = load_start + 5
    inside_busy = (starts >= load_start + 1) & (starts + 1 <= busy_end)
    outside = (starts + 1 <= load_start) | (starts >= busy_end + 1)
    assert inside_busy.sum() >= 3 and (table.requests[inside_busy] > 0).all()
    assert outside.sum() >= 3 and (table.requests[outside] == 0).all()
    assert starts[-1] + 1 >= plan_end - 1, "windows run to the end of the plan"
    assert not (tmp_path / "latency.hdr.tmp").exists()


def test_master_and_two_workers_merge_counts_and_p99_exactly(start_sample, tmp_path):
    """Issue 6: with a real master and two real workers the written request count is the sum
    of what the workers sent, and P99 over the merged windows is the P99 of every request."""
    target = start_sample("healthy", "fixed")
    scenario = make_scenario([{"name": "busy", "duration": 8},
                              {"name": "idle", "duration": 2, "users": 0}], workers=2)
    run = start_run(scenario, target.url, tmp_path, raw=True)
    try:
        # the two workers are forked by one process (Locust's --processes), as bare Locust
        assert [p.name for p in run.processes] == ["locust-master", "locust-workers"]
        assert [p.role for p in run.processes] == ["load"] * 2
        run.begin(time.time() + 0.2)
        assert wait_until(lambda: run.exited() is not None, scenario.duration + 25)
        assert run.exited() == 0
    finally:
        run.stop()
    raw = raw_times(tmp_path)
    assert len(raw) == 2 and all(len(v) > 0 for v in raw.values()), raw.keys()
    every = [v for values in raw.values() for v in values]
    table = read_latency(tmp_path / "latency.csv")
    assert int(table.requests.sum()) == len(every)
    assert np.allclose(np.diff(table.t), 1.0)
    merged = merged_histogram(tmp_path)
    assert merged.get_total_count() == len(every)
    # HdrHistogram's P99 is the nearest-rank value, rank round(0.99 n); within its precision
    # (3 significant digits) and our microsecond rounding it is the raw value at that rank.
    rank = max(1, int(0.99 * len(every) + 0.5))
    expected_p99 = float(np.sort(every)[rank - 1])
    assert merged.get_value_at_percentile(99) / 1000 == pytest.approx(expected_p99, rel=1e-3,
                                                                     abs=0.001)
    master_log = (tmp_path / "logs" / "locust-master.log").read_text()
    assert "arrived after their second was written" not in master_log
    assert "no final latency windows" not in master_log


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_mid_run_leaves_no_locust_and_flushes_the_last_windows(start_sample, tmp_path,
                                                                    workers):
    """SIGTERM in the middle of a long phase: every Locust process is gone and every request
    recorded so far is in latency.csv, up to the second of the stop."""
    target = start_sample("healthy", "fixed")
    scenario = make_scenario([{"name": "long", "duration": 90}], workers=workers)
    run = start_run(scenario, target.url, tmp_path, raw=True)
    pids = [p.pid for p in run.processes]
    try:
        run.begin(time.time())
        time.sleep(5)
    finally:
        stopped_at = time.time()
        run.stop()
    assert all(p.poll() is not None for p in run.processes)
    leftovers = processes_with_env(f"HARNESS_RUN_DIR={tmp_path.resolve()}")
    assert leftovers == [], leftovers
    assert all(not Path(f"/proc/{pid}").exists() or
               Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z" for pid in pids)
    table = read_latency(tmp_path / "latency.csv")
    every = [v for values in raw_times(tmp_path).values() for v in values]
    assert len(every) > 0
    assert int(table.requests.sum()) == len(every)
    assert table.t[-1] + run.t0 >= stopped_at - 2


def test_missing_user_class_fails_clearly(tmp_path):
    """A load.user the locustfile does not define: wait_ready is False and says why."""
    scenario = make_scenario([{"name": "a", "duration": 2}], user="NoSuchUser")
    run = LocustRun(scenario, "http://127.0.0.1:9", tmp_path, t0=time.time())
    run.start()
    try:
        assert run.wait_ready(60) is False
        assert run.failure is not None
        assert "NoSuchUser" in run.failure and "HttpApiUser" in run.failure
    finally:
        run.stop()
