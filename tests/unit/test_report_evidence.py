"""Reading analysis evidence for charts: baseline bands and fitted slopes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report import baseline_band, grew_tables, slope_line
from harness.runfolder import Series
from harness.verdicts import Check, Verdict


def _check(kind: str = "recovery", **evidence: object) -> Check:
    return Check(name="x", metric="tasks", target="t", kind=kind, verdict=Verdict.PASS,
                 evidence=evidence)


@pytest.mark.parametrize(
    ("evidence", "band"),
    [
        ({"baseline": 20.0, "limit": 22.0}, (18.0, 22.0)),
        ({"baseline": [10, 12]}, (10.0, 12.0)),
        ({"baseline": {"median": 5, "lo": 4, "hi": 7}}, (4.0, 7.0)),
        ({"baseline_lo": 1, "baseline_hi": 3}, (1.0, 3.0)),
        ({"baseline": 20.0}, (20.0, 20.0)),
        ({"baseline": "n/a"}, None),
        ({}, None),
    ],
)
def test_baseline_band(evidence, band):
    """Every baseline shape the analysis may write becomes a (lo, hi) band, or None."""
    assert baseline_band(_check(**evidence)) == band


def test_slope_line_from_analysis_shape():
    """slope_per_min with the check's window and no intercept: fitted through the data."""
    t = np.arange(0.0, 100.0)
    series = Series("t", "tasks", t, 10 + 0.5 * t)
    check = _check("growth", slope_per_min=30.0).model_copy(update={"window": (20.0, 80.0)})
    line = slope_line(check, series)
    assert line is not None
    assert (line.t0, line.t1) == (20.0, 80.0)
    assert line.v0 == pytest.approx(20.0) and line.v1 == pytest.approx(50.0)


def test_slope_line_with_intercept_and_window():
    """slope_per_s + intercept (at t=0) + window evidence draw the analysis' own line."""
    check = _check("growth", slope_per_s=1.0, intercept=5.0, window=[10, 20])
    line = slope_line(check, None)
    assert line is not None and (line.v0, line.v1) == (15.0, 25.0)


def test_no_slope_no_line():
    """A growth check without a slope in its evidence draws nothing."""
    assert slope_line(_check("growth", p_value=0.5), None) is None


def test_grew_tables_finds_grown_groups():
    """Lists of task groups with counts are found under any key."""
    rows = [{"name": "handler", "where": "a.py:1", "before": 1, "after": 9, "delta": 8}]
    check = _check("growth", grown_groups=rows, snapshots=["baseline", "peak"])
    assert grew_tables(check) == [("grown_groups", rows)]
