"""The request-rate collapse check: a loaded phase whose rate collapsed is never a PASS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.analysis import analyze, spans
from harness.runfolder import LatencyTable
from harness.verdicts import Summary, Verdict, exit_code_for, overall_verdict
from tests.unit.analysis_helpers import FAULT, IDLE, by_name, run_data, scenario

PHASES: list[tuple[str, float, dict[str, Any]]] = [
    ("warmup", 10.0, {}), ("steady", 20.0, {}), ("chaos", 20.0, FAULT), ("recovery", 10.0, IDLE)]


def latency(requests: np.ndarray, failures: np.ndarray | None = None) -> LatencyTable:
    """One window a second from t=0 with these request (and failure) counts."""
    n = len(requests)
    fails = np.zeros(n) if failures is None else failures
    nan = np.full(n, np.nan)
    return LatencyTable(np.arange(n, dtype=float), requests.astype(float), fails.astype(float),
                        nan, nan, nan, nan)


def healthy(rate: float = 100.0) -> np.ndarray:
    """Requests per second of the PHASES timeline: ``rate`` while users run, 0 in recovery."""
    out = np.full(60, rate)
    out[50:] = 0
    return out


def rate_checks_of(tmp_path: Path, requests: np.ndarray, failures: np.ndarray | None = None,
                   thresholds: dict[str, Any] | None = None,
                   phases: list[tuple[str, float, dict[str, Any]]] = PHASES) -> dict[str, Any]:
    sc = scenario(phases, thresholds or {})
    run = run_data(tmp_path, sc, {}, latency=latency(requests, failures))
    return by_name([c for c in analyze(run, sc) if c.metric == "request_rate"])


def test_a_steady_rate_passes_every_loaded_phase(tmp_path: Path) -> None:
    """Flat load: warmup, steady and chaos pass; recovery (users: 0) is not judged."""
    checks = rate_checks_of(tmp_path, healthy())
    assert {n: c.verdict for n, c in checks.items()} == {
        "request_rate[warmup]": Verdict.PASS, "request_rate[steady]": Verdict.PASS,
        "request_rate[chaos]": Verdict.PASS}


def test_a_collapse_with_stuck_requests_in_a_fault_free_phase_fails_on_the_target(
        tmp_path: Path) -> None:
    """Rate at 0 from t=15 with 10 stuck requests at the phase's end: FAIL, category target."""
    requests, failures = healthy(), np.zeros(60)
    requests[15:30] = 0
    requests[29] = failures[29] = 10  # the stuck requests, recorded at the phase's end
    check = rate_checks_of(tmp_path, requests, failures)["request_rate[steady]"]
    assert check.verdict == Verdict.FAIL and check.category == "target"
    assert check.evidence["collapsed_at"] == pytest.approx(15.0, abs=1.0)
    assert "stopped answering" in check.detail


def test_a_collapse_with_no_trace_at_all_is_inconclusive(tmp_path: Path) -> None:
    """Nothing recorded from t=15 on (no completion, failure or stuck request): exit 4."""
    requests = healthy()
    requests[15:30] = 0
    checks = rate_checks_of(tmp_path, requests)
    check = checks["request_rate[steady]"]
    assert check.verdict == Verdict.INCONCLUSIVE and check.category == "run"
    verdict = overall_verdict(list(checks.values()))
    assert verdict == Verdict.INCONCLUSIVE
    summary = Summary(scenario="t", verdict=verdict, status="completed",
                      checks=list(checks.values()))
    assert exit_code_for(summary) == 4


def test_a_collapse_under_faults_is_skipped_unless_the_phase_is_named(tmp_path: Path) -> None:
    """A stalling fault may collapse the rate by design: SKIP; named in phases: judged."""
    requests, failures = healthy(), np.zeros(60)
    requests[32:50] = 1
    failures[32:50] = 1
    default = rate_checks_of(tmp_path, requests, failures)["request_rate[chaos]"]
    assert default.verdict == Verdict.SKIP and "faults were active" in default.detail
    named = rate_checks_of(tmp_path, requests, failures,
                           {"request_rate": {"min": 0.1, "phases": ["steady", "chaos"]}})
    assert named["request_rate[chaos]"].verdict == Verdict.FAIL
    assert named["request_rate[steady]"].verdict == Verdict.PASS


def test_a_dip_shorter_than_lasting_is_not_a_collapse(tmp_path: Path) -> None:
    """3 s at zero with lasting 5s: PASS; with lasting 2s: FAIL."""
    requests = healthy()
    requests[20:23] = 0
    assert rate_checks_of(tmp_path, requests)["request_rate[steady]"].verdict == Verdict.PASS
    short = rate_checks_of(tmp_path, requests, thresholds={
        "request_rate": {"min": 0.1, "lasting": "2s"}})
    assert short["request_rate[steady]"].verdict == Verdict.FAIL


def test_the_expected_rate_follows_the_phase_users(tmp_path: Path) -> None:
    """A phase with a fifth of the users at a fifth of the rate is no collapse."""
    phases = [("warmup", 10.0, {}), ("low", 20.0, {"users": 2})]
    requests = np.full(30, 100.0)
    requests[10:] = 20.0
    check = rate_checks_of(tmp_path, requests, phases=phases)["request_rate[low]"]
    assert check.verdict == Verdict.PASS
    assert check.evidence["expected_per_s"] == pytest.approx(20.0)


def test_a_low_rate_is_judged_over_a_longer_stretch(tmp_path: Path) -> None:
    """At 1 req/s a 5 s gap is chance: the stretch grows to 20 s (MIN_EXPECTED requests)."""
    phases = [("warmup", 30.0, {}), ("steady", 40.0, {})]
    requests = np.ones(70)
    requests[40:46] = 0
    check = rate_checks_of(tmp_path, requests, phases=phases)["request_rate[steady]"]
    assert check.evidence["stretch_s"] == 20
    assert check.verdict == Verdict.PASS


def test_no_requests_in_the_baseline_is_inconclusive(tmp_path: Path) -> None:
    """A warmup without requests gives no baseline: every rate check is inconclusive."""
    checks = rate_checks_of(tmp_path, np.zeros(60))
    assert {c.verdict for c in checks.values()} == {Verdict.INCONCLUSIVE}


def test_phases_after_a_tool_failure_are_not_judged(tmp_path: Path) -> None:
    """toxiproxy froze at t=12: steady is cut there, chaos never judged, nothing FAILs."""
    sc = scenario(PHASES, {"p99_ms": {"max": 100}, "error_ratio": {"max": 0.01}})
    requests = healthy()
    requests[12:] = 0
    events = [{"t": 22.0, "kind": "tool_failed", "tool": "toxiproxy", "what": "frozen",
               "since": 12.0}, {"t": 25.0, "kind": "run_end"}]
    run = run_data(tmp_path, sc, {}, latency=latency(requests), events=events)
    assert spans(run, sc)["steady"].end == 12.0
    checks = analyze(run, sc)
    assert not [c for c in checks if c.category == "target" and c.verdict == Verdict.FAIL]
    assert by_name(checks)["request_rate[chaos]"].verdict == Verdict.INCONCLUSIVE
