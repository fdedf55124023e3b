"""Builders for analysis tests: scenarios and RunRecord from synthetic series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.runfolder import LatencyTable, PhaseSpan, RunRecord, Series
from harness.scenario import Scenario, scenario_from_dict


def scenario(
    phases: list[tuple[str, float, dict[str, Any]]],
    thresholds: dict[str, dict[str, Any]],
    users: int = 10,
) -> Scenario:
    """A one-target scenario (the healthy sample: tasks, fds, rss, threads)."""
    return scenario_from_dict({
        "name": "t",
        "target": {"name": "api", "sample": "healthy"},
        "proxies": [{"name": "front", "upstream": "api"}],
        "load": {"user": "HttpApiUser", "users": users},
        "phases": [{"name": n, "duration": d, **extra} for n, d, extra in phases],
        "thresholds": thresholds,
    })


# a command target (a process tree: fds, rss, threads, conns, close_wait); deep-copy to edit
COMMAND = {
    "name": "t",
    "target": {"name": "api", "command": ["./server", "--port", "{port}"]},
    "proxies": [{"name": "front", "upstream": "api"}],
    "load": {"user": "HttpApiUser", "users": 5},
    "phases": [{"name": "warmup", "duration": 30}, {"name": "chaos", "duration": 60}],
    "thresholds": {},
}


FAULT = {"faults": [{"proxy": "front", "type": "latency", "attributes": {"latency": 10}}]}
IDLE = {"users": 0}


def empty_latency() -> LatencyTable:
    """A latency table with no windows."""
    return LatencyTable(*(np.empty(0) for _ in range(7)))


def run_data(
    path: Path,
    sc: Scenario,
    values: dict[tuple[str, str], np.ndarray],
    *,
    interval: float = 1.0,
    latency: LatencyTable | None = None,
    events: list[dict[str, Any]] | None = None,
    status: str = "completed",
    phases: list[PhaseSpan] | None = None,
) -> RunRecord:
    """RunRecord whose phases ran exactly as planned and whose series start at t=0."""
    if phases is None:
        phases, t = [], 0.0
        for p in sc.phases:
            phases.append(PhaseSpan(p.name, t, t + p.duration))
            t += p.duration
    series = {
        key: Series(key[0], key[1], np.arange(len(v)) * interval, np.asarray(v, dtype=float))
        for key, v in values.items()
    }
    evs = events if events is not None else [{"t": phases[-1].end or 0.0, "kind": "run_end"}]
    return RunRecord(path=path, manifest={"status": status}, events=evs, series=series,
                   latency=latency if latency is not None else empty_latency(), phases=phases)


def by_name(checks: list[Any]) -> dict[str, Any]:
    """Checks keyed by their stable name."""
    return {c.name: c for c in checks}
