"""compare: regressions beyond tolerance or a pass turned fail; equal runs do not regress."""

from __future__ import annotations

import pytest

from harness.errors import RunDirError
from harness.report import compare_row, compare_runs, write_summary
from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run
from harness.verdicts import Check, Verdict


def _run(path, spec):
    write_synthetic_run(path, spec)
    write_summary(path, synthetic_summary(spec))
    return path


def test_regressed_pair(tmp_path):
    """A leaking, slower candidate against a clean baseline regresses; files are written."""
    base = _run(tmp_path / "base", SyntheticRun(duration_s=40))
    cand = _run(tmp_path / "cand", SyntheticRun(duration_s=40, leak_per_min=20, p99_ms=80))
    result = compare_runs(base, cand, tmp_path / "cmp")
    assert result.regressed
    by_name = {r.name: r for r in result.rows}
    assert by_name["tasks.growth[gateway]"].regressed
    assert by_name["p99_ms[warmup]"].regressed
    names = {p.name for p in result.paths}
    assert {"compare.html", "compare.md", "compare.png"} <= names
    assert "REGRESSED" in (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")


def test_equal_pair(tmp_path):
    """Two runs of the same shape do not regress."""
    base = _run(tmp_path / "base", SyntheticRun(duration_s=40))
    cand = _run(tmp_path / "cand", SyntheticRun(duration_s=40, seed=2))
    result = compare_runs(base, cand, tmp_path / "cmp")
    assert not result.regressed
    assert "NO REGRESSION" in (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")


def test_missing_summary_is_a_run_dir_error(tmp_path):
    """A run folder without summary.json is an input error naming the file."""
    base = write_synthetic_run(tmp_path / "base", SyntheticRun(duration_s=5))
    with pytest.raises(RunDirError, match=r"summary\.json"):
        compare_runs(base, base, tmp_path / "cmp")


def _c(observed, verdict=Verdict.PASS, threshold=250.0, kind="latency", name="p99_ms[steady]",
       category="target"):
    return Check(name=name, metric="p99_ms", kind=kind, verdict=verdict, observed=observed,
                 threshold=threshold, category=category)


@pytest.mark.parametrize(
    ("base", "cand", "regressed"),
    [
        (_c(100.0), _c(109.0), False),  # within 10%
        (_c(100.0), _c(111.0), True),  # beyond 10%
        (_c(100.0), _c(50.0), False),  # better
        (_c(100.0), _c(100.0, Verdict.FAIL), True),  # pass -> fail
        (_c(100.0, Verdict.FAIL), _c(100.0, Verdict.FAIL), False),  # already failing, same
        (_c(0.0, threshold=5.0, kind="growth"), _c(0.4, threshold=5.0, kind="growth"), False),
        (_c(0.0, threshold=5.0, kind="growth"), _c(0.6, threshold=5.0, kind="growth"), True),
        (_c(0.0, threshold=0.01, kind="error_ratio"), _c(0.0, threshold=0.01,
                                                          kind="error_ratio"), False),
        (_c(100.0, category="tool"), _c(900.0, Verdict.FAIL, category="tool"), False),
        (_c(30.0, kind="level", name="fds.min[g]"), _c(20.0, kind="level", name="fds.min[g]"),
         True),  # lower is worse for a min bound
        (_c(1.0, Verdict.SKIP), _c(5.0, Verdict.SKIP), False),
    ],
)
def test_compare_row(base, cand, regressed):
    """Relative tolerance, verdict flips, growth floors, tool checks and min bounds."""
    assert compare_row(base, cand, 0.10).regressed is regressed


def test_rows_only_on_one_side_are_not_regressions():
    """A check that exists in only one run is shown, never counted as a regression."""
    row = compare_row(None, _c(1.0, Verdict.FAIL), 0.10)
    assert not row.regressed and row.note == "only in candidate"
