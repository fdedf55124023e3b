"""report.md for CI job summaries: verdict line, table, failing evidence, escaped."""

from __future__ import annotations

import re

import pytest

from harness.report import cell, step_summary
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
    outside = "\n".join(_outside_fences(md))
    assert not re.search(r"(?<!\\)<", outside), "a raw < outside code could open a tag"
    assert "`a\\|b<script>`" in md  # the check name: an inline code span, pipe escaped
    assert "d \\<img src=x onerror=alert(1)>" in md
    assert '"k": "<script>"' in md  # evidence: as it is, inside a fenced block


def _outside_fences(md: str) -> list[str]:
    """The lines of ``md`` that are not inside a fenced code block."""
    out, fence = [], None
    for line in md.splitlines():
        match = re.match(r"^(`{3,})", line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.startswith(fence):
            fence = None
        elif fence is None:
            out.append(re.sub(r"(`+).*?\1", "", line))  # inline code spans are literal
    return out


def test_cell_escapes_newlines_and_backticks():
    """Newlines become ' / ' and backticks cannot open code spans in a table cell."""
    assert cell("a\nb`c|d") == "a / b\\`c\\|d"


@pytest.mark.parametrize("text", ["it's 'steady'", "a -> b", 'say "hi"', "x & y", "['a', 'b']"])
def test_plain_text_needs_no_entities(text):
    """Quotes, arrows and ampersands stay as typed: report.md holds no HTML entities."""
    assert cell(text) == text


def test_failing_report_reads_as_plain_markdown(tmp_path):
    """A failing run's report.md has no HTML entities, no HTML and no Python list reprs;
    its evidence is in fenced json blocks."""
    spec = SyntheticRun(duration_s=30, leak_per_min=20)
    run, _ = make_report(tmp_path / "run", spec)
    md = (run / "report.md").read_text(encoding="utf-8")
    for bad in ("&#x27;", "&gt;", "&quot;", "&lt;", "&#96;", "<br>", "<code>", "<details>",
                "['"):
        assert bad not in md, bad
    assert "```json" in md


def test_step_summary_names_verdict_failures_and_report(tmp_path):
    """The $GITHUB_STEP_SUMMARY block: verdict, each failed check with its detail, the path."""
    spec = SyntheticRun(duration_s=30, leak_per_min=20)
    run, summary = make_report(tmp_path / "run", spec)
    text = step_summary(summary, run)
    assert text.startswith("### ❌ FAIL: synthetic")
    failed = summary.failed_checks
    assert failed and all(f"**FAIL** `{c.name}`" in text for c in failed)
    assert str(run / "report.md") in text
