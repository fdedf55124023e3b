"""Which process of a target's tree grew: processes.csv levels and growth-check evidence."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from harness.analysis import analyze
from harness.runfolder import PROCESSES_HEADER, read_process_levels
from harness.scenario import scenario_from_dict
from harness.verdicts import Verdict
from tests.unit.analysis_helpers import COMMAND, by_name, run_data


def _processes_csv(path: Path, n: int) -> None:
    lines = [",".join(PROCESSES_HEADER)]
    for t in range(n):
        lines.append(f"{t:.3f},api,100,sh,fds,5")
        if t >= 10:  # a worker forked at t=10, leaking one fd a second
            lines.append(f"{t:.3f},api,101,python3,fds,{10 + t - 10}")
        lines.append(f"{t:.3f},other,300,x,fds,{1000 + t}")
    (path / "processes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_process_levels_count_a_late_worker_from_zero(tmp_path):
    """A process absent at the window's first tick starts at 0; one present keeps its value."""
    _processes_csv(tmp_path, 40)
    levels = {p.pid: p for p in read_process_levels(tmp_path / "processes.csv", "api", "fds",
                                                     5.0, 30.0)}
    assert set(levels) == {100, 101}
    assert (levels[100].first, levels[100].last) == (5.0, 5.0)
    assert (levels[101].first, levels[101].last, levels[101].t_first) == (0.0, 30.0, 10.0)


def test_growth_evidence_names_the_process_that_grew(tmp_path):
    """A failing tree growth check names the worker that grew, biggest growth first."""
    _processes_csv(tmp_path, 90)
    data = copy.deepcopy(COMMAND)
    data["thresholds"] = {"fds": {"max_growth_per_min": 1, "settle": "0s",
                                  "phases": ["warmup", "chaos"]}}
    sc = scenario_from_dict(data)
    fds = np.array([5.0 + (10 + t - 10 if t >= 10 else 0) for t in range(90)])
    checks = by_name(analyze(run_data(tmp_path, sc, {("api", "fds"): fds}), sc))
    check = checks["fds.growth[api]"]
    assert check.verdict is Verdict.FAIL
    rows = check.evidence["processes"]
    assert [r["pid"] for r in rows] == [101, 100]
    assert rows[0]["name"] == "python3" and rows[0]["first"] == 0 and rows[0]["growth"] > 70
    assert "Grew most in pid 101 (python3)" in check.detail
