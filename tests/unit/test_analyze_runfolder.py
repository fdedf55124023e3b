"""analyze() on real run folders written with the runfolder writers: partial data is judged,
never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis import analyze, merge_by_phase, spans
from harness.runfolder import (
    HDR_HEADER,
    LATENCY_HEADER,
    SAMPLES_HEADER,
    LineWriter,
    load_run,
    write_json_atomic,
)
from harness.verdicts import Verdict
from tests.unit.analysis_helpers import FAULT, IDLE, by_name, scenario

SC = scenario(
    [("warmup", "10s", {}), ("chaos", "20s", FAULT), ("recovery", "10s", IDLE)],
    {"tasks": {"max_growth_per_min": 30, "recover_within": "8s", "tolerance_abs": 2},
     "fds": {"max": 100},
     "p99_ms": {"max": 250},
     "error_ratio": {"max": 0.01}},
)


def write_run(root: Path, *, status: str, events: list[dict], samples=(), latency=(),
              hdr=()) -> Path:
    """A run folder as the orchestrator writes it."""
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "run.json", {"status": status, "targets": [
        {"name": "api", "role": "target"}, {"name": "locust", "role": "control"}]})
    ev = LineWriter(root / "events.jsonl")
    for e in events:
        ev.write_json(e)
    ev.close()
    for name, header, rows in (("samples.csv", SAMPLES_HEADER, samples),
                               ("latency.csv", LATENCY_HEADER, latency),
                               ("latency.hdr", HDR_HEADER, hdr)):
        w = LineWriter(root / name, header)
        for row in rows:
            w.write_row(row)
        w.close()
    return root


def phase_events(names_times, end=None):
    """phase_start/phase_end events for consecutive phases."""
    out = [{"t": 0.0, "kind": "run_start"}]
    for (name, start, stop) in names_times:
        out.append({"t": start, "kind": "phase_start", "phase": name})
        if stop is not None:
            out.append({"t": stop, "kind": "phase_end", "phase": name})
    if end is not None:
        out.append({"t": end, "kind": "run_end", "status": "completed"})
    return out


def test_empty_run_folder_gives_errors_not_exceptions(tmp_path):
    """A run folder with only run.json: every check is ERROR/FAIL/SKIP with a reason."""
    run = load_run(write_run(tmp_path / "r", status="running", events=[]))
    checks = by_name(analyze(run, SC))
    assert checks["run.completed"].verdict is Verdict.ERROR  # cut short: inconclusive
    assert "no run_end event" in checks["run.completed"].detail
    for name in ("tasks.growth[api]", "tasks.recovery[api]", "fds.max[api]",
                 "p99_ms[warmup]", "error_ratio[chaos]"):
        assert checks[name].verdict is Verdict.ERROR, name
        assert checks[name].detail
    assert all(c.kind != "error" for c in checks.values())


def test_interrupted_run_judges_what_it_has(tmp_path):
    """A run interrupted in chaos: growth is judged on the data, recovery is ERROR."""
    events = phase_events([("warmup", 0.0, 10.0), ("chaos", 10.0, None)])
    events.append({"t": 25.0, "kind": "interrupted", "signal": "SIGINT"})
    samples = [(float(t), "api", "tasks", 10 + (5 * (t - 10) if t >= 10 else 0))
               for t in range(26)]
    run = load_run(write_run(tmp_path / "r", status="interrupted", events=events,
                             samples=samples))
    checks = by_name(analyze(run, SC))
    assert checks["run.completed"].verdict is Verdict.ERROR  # cut short: inconclusive
    assert "interrupted by SIGINT at t=25s" in checks["run.completed"].detail
    assert checks["tasks.growth[api]"].verdict is Verdict.FAIL
    assert "recovery" in checks["tasks.recovery[api]"].detail
    assert checks["tasks.recovery[api]"].verdict is Verdict.ERROR
    assert checks["p99_ms[chaos]"].verdict is Verdict.ERROR  # no latency data recorded
    assert "p99_ms[recovery]" not in checks  # no load in recovery: not judged by default


def test_target_died_is_a_failing_run_check(tmp_path):
    """An unexpected target exit names the target, code, time and phase."""
    events = phase_events([("warmup", 0.0, 10.0), ("chaos", 10.0, 30.0),
                           ("recovery", 30.0, 40.0)], end=40.0)
    events.insert(4, {"t": 12.3, "kind": "process_exit", "process": "api", "role": "target",
                      "returncode": -9, "expected": False})
    run = load_run(write_run(tmp_path / "r", status="target_crashed", events=events))
    check = by_name(analyze(run, SC))["target.alive[api]"]
    assert check.verdict is Verdict.FAIL
    assert check.detail == "target 'api' exited with code -9 at t=12.3s during phase chaos."


def test_completed_run_passes_run_checks(tmp_path):
    """Status completed, run_end present and all phases finished: run.completed passes."""
    events = phase_events([("warmup", 0.0, 10.0), ("chaos", 10.0, 30.0),
                           ("recovery", 30.0, 40.0)], end=40.0)
    run = load_run(write_run(tmp_path / "r", status="completed", events=events))
    checks = by_name(analyze(run, SC))
    assert checks["run.completed"].verdict is Verdict.PASS
    assert checks["target.alive[api]"].verdict is Verdict.PASS


def _hdr_rows(rng, seconds, per_window):
    rows, raw = [], []
    for t in range(seconds):
        h = HdrHistogram(1, 3_600_000_000, 3)
        values = rng.lognormal(9.0, 0.8, per_window).astype(int) + 1
        for v in values:
            h.record_value(int(v))
        raw.append(values)
        rows.append((float(t), h.encode().decode()))
    return rows, np.concatenate(raw)


@pytest.mark.parametrize("pct", [50.0, 95.0, 99.0, 99.9])
def test_merged_hdr_percentile_matches_numpy(tmp_path, pct):
    """Per-phase percentiles from merged HDR windows equal numpy's within 0.1%."""
    rng = np.random.default_rng(int(pct * 10))
    rows, raw = _hdr_rows(rng, 10, 500)
    events = phase_events([("warmup", 0.0, 10.0)], end=10.0)
    run = load_run(write_run(tmp_path / "r", status="completed", events=events, hdr=rows))
    one = scenario([("warmup", "10s", {})], {"p99_ms": {"max": 1}})
    merged, bad = merge_by_phase(run, list(spans(run, one).values()))
    assert bad == 0
    got = merged["warmup"].get_value_at_percentile(pct)
    # nearest rank, as HDR defines it (the epsilon absorbs 0.999 * 5000 = 4995.000000000001)
    want = np.percentile(raw, pct - 1e-9, method="inverted_cdf")
    assert got == pytest.approx(want, rel=1e-3)


def test_latency_and_error_ratio_checks_per_phase(tmp_path):
    """p99_ms[phase] comes from the phase's merged HDR; error_ratio from the windows."""
    rng = np.random.default_rng(7)
    rows, raw = _hdr_rows(rng, 30, 100)
    latency = [(float(t), 100, 2 if t >= 10 else 0, 1, 1, 1, 1) for t in range(30)]
    events = phase_events([("warmup", 0.0, 10.0), ("chaos", 10.0, 30.0),
                           ("recovery", 30.0, 40.0)], end=40.0)
    run = load_run(write_run(tmp_path / "r", status="completed", events=events,
                             latency=latency, hdr=rows))
    checks = by_name(analyze(run, SC))
    warm = checks["p99_ms[warmup]"]
    assert warm.observed == pytest.approx(
        np.percentile(raw[:1000], 99, method="inverted_cdf") / 1000, rel=1e-3)
    assert warm.verdict is (Verdict.PASS if warm.observed <= 250 else Verdict.FAIL)
    assert checks["error_ratio[warmup]"].verdict is Verdict.PASS
    assert checks["error_ratio[chaos]"].verdict is Verdict.FAIL
    assert checks["error_ratio[chaos]"].observed == pytest.approx(0.02)
    assert "p99_ms[recovery]" not in checks  # no load in recovery: not judged by default


def test_evidence_diff_names_what_grew(tmp_path):
    """A failing recovery lists the task groups that grew from baseline to end, minus ignores."""
    events = phase_events([("warmup", 0.0, 10.0), ("chaos", 10.0, 30.0),
                           ("recovery", 30.0, 40.0)], end=40.0)
    samples = [(float(t), "api", "tasks", 5.0 if t < 10 else 45.0) for t in range(40)]
    root = write_run(tmp_path / "r", status="completed", events=events, samples=samples)
    (root / "evidence").mkdir()
    snap = {"baseline": [("main", "app.py:1 in main", 5)],
            "end": [("main", "app.py:1 in main", 5), ("handler", "app.py:42 in handler", 37),
                    ("_keepalive", "aiohttp/web.py:9", 3)]}
    for label, groups in snap.items():
        (root / "evidence" / f"{label}.api.json").write_text(json.dumps(
            {"total": sum(g[2] for g in groups),
             "groups": [{"name": n, "where": w, "count": c} for n, w, c in groups]}))
    sc = scenario([("warmup", "10s", {}), ("chaos", "20s", FAULT), ("recovery", "10s", IDLE)],
                  {"tasks": {"recover_within": "8s", "ignore_tasks": ["aiohttp/*"]}})
    check = by_name(analyze(load_run(root), sc))["tasks.recovery[api]"]
    assert check.verdict is Verdict.FAIL
    grown = check.evidence["grown_groups"]
    assert [(g["name"], g["delta"]) for g in grown] == [("handler", 37)]
    assert check.evidence["ignored_growth"] == 3
    assert "+37 handler (app.py:42 in handler)" in check.detail
