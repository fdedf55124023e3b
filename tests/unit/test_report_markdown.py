"""report.md for CI job summaries: verdict line, table, failing evidence, escaped."""

from __future__ import annotations

from harness.report import cell
from harness.testing import SyntheticRun, synthetic_checks
from harness.verdicts import Check, Verdict

from ._report_helpers import make_report


def test_verdict_line_table_and_failing_evidence(tmp_path):
    """A failing run leads with FAIL, lists every check and shows failing evidence."""
    spec = SyntheticRun(duration_s=30, leak_per_min=20)
    run, summary = make_report(tmp_path / "run", spec)
    md = (run / "report.md").read_text(encoding="utf-8")
    assert md.splitlines()[0].startswith("## ❌ FAIL: synthetic")
    assert md.count("\n| ") >= len(summary.checks) + 1
    assert "### Failing evidence" in md and "slope_per_s" in md


def test_script_and_pipes_stay_text(tmp_path):
    """HTML in names is escaped and a `|` cannot break the table."""
    spec = SyntheticRun(name="<script>x</script>", duration_s=10)
    evil = Check(name="a|b<script>", metric="m", kind="level", verdict=Verdict.FAIL,
                 detail="d <img src=x onerror=alert(1)>", evidence={"k": "<script>"})
    run, _ = make_report(tmp_path / "run", spec, [*synthetic_checks(spec), evil])
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "<img" not in md
    assert "a\\|b&lt;script&gt;" in md


def test_cell_escapes_newlines_and_backticks():
    """Newlines become <br> and backticks cannot open code spans in a table cell."""
    assert cell("a\nb`c|d") == "a<br>b&#96;c\\|d"
