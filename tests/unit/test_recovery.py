"""Recovery checks: back to the warmup baseline within recover_within, or how far off."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis import analyze
from harness.verdicts import Verdict
from tests.unit.analysis_helpers import FAULT, IDLE, by_name, run_data, scenario


def shape(recovered_to: float, rec_len: int = 20) -> np.ndarray:
    """Baseline 20 for 10 s, 80 in chaos for 20 s, then a drop to ``recovered_to``."""
    return np.concatenate([np.full(10, 20.0), np.full(20, 80.0),
                           np.full(3, 60.0), np.full(rec_len - 3, recovered_to)])


@pytest.mark.parametrize(("recovered_to", "tolerance", "tol_abs", "expected"), [
    (20.0, "10%", 0, Verdict.PASS),   # fully back
    (22.0, "10%", 0, Verdict.PASS),   # within 10% of 20
    (23.0, "10%", 0, Verdict.FAIL),   # 1 over the 22 limit
    (23.0, "10%", 2, Verdict.PASS),   # tolerance_abs absorbs it
    (80.0, "50%", 5, Verdict.FAIL),   # never gave anything back
])
def test_recovery_verdicts(tmp_path, recovered_to, tolerance, tol_abs, expected):
    """The level at recover_within is compared with baseline*(1+tol)+abs."""
    sc = scenario([("warmup", "10s", {}), ("chaos", "20s", FAULT), ("recovery", "20s", IDLE)],
                  {"fds": {"recover_within": "15s", "tolerance": tolerance,
                           "tolerance_abs": tol_abs}})
    check = by_name(analyze(run_data(tmp_path, sc, {("api", "fds"): shape(recovered_to)}), sc))
    c = check["fds.recovery[api]"]
    assert c.verdict is expected, c.detail
    assert c.observed == pytest.approx(recovered_to)
    assert c.threshold == pytest.approx(20 * (1 + float(tolerance[:-1]) / 100) + tol_abs)
    assert c.evidence["baseline"] == 20.0


def test_short_recovery_phase_is_judged_at_the_end_and_says_so(tmp_path):
    """A recovery phase shorter than recover_within is judged at the end of the data."""
    sc = scenario([("warmup", "10s", {}), ("chaos", "20s", FAULT), ("recovery", "6s", IDLE)],
                  {"fds": {"recover_within": "15s"}})
    run = run_data(tmp_path, sc, {("api", "fds"): shape(20.0, rec_len=6)})
    c = by_name(analyze(run, sc))["fds.recovery[api]"]
    assert c.verdict is Verdict.PASS
    assert "data ends before recover_within" in c.detail


def test_no_recovery_phase_is_skipped(tmp_path):
    """Without a users: 0, fault-free phase after the load there is nothing to judge."""
    sc = scenario([("warmup", "10s", {}), ("chaos", "20s", FAULT)],
                  {"fds": {"recover_within": "15s"}})
    c = by_name(analyze(run_data(tmp_path, sc, {("api", "fds"): np.full(30, 5.0)}), sc))
    assert c["fds.recovery[api]"].verdict is Verdict.SKIP
