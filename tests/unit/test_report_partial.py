"""Reports from partial run folders: interrupted, crashed, nearly empty."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from harness.report import write_reports
from harness.runfolder import load_run, write_json_atomic
from harness.testing import SyntheticRun, synthetic_summary, write_synthetic_run
from harness.verdicts import Summary, Verdict

EXPECTED = {"summary.json", "report.html", "report.md", "junit.xml"}


def test_interrupted_after_three_seconds(tmp_path):
    """A run cut at 3 s, open phase, torn last line, no checks: every report is written."""
    spec = SyntheticRun(duration_s=60, interrupt_at=3)
    path = write_synthetic_run(tmp_path / "run", spec)
    run = load_run(path)
    assert run.phases[-1].end is None
    summary = synthetic_summary(spec, [])
    paths = write_reports(run, summary, None)
    assert {p.name for p in paths} >= EXPECTED
    assert (path / "charts" / "overview.png").stat().st_size > 0
    assert "cut short" in (path / "report.html").read_text(encoding="utf-8")
    assert ET.parse(path / "junit.xml").getroot().get("tests") == "0"
    assert json.loads((path / "summary.json").read_text())["status"] == "interrupted"


def test_only_a_manifest(tmp_path):
    """A target that crashed at once leaves only run.json: reports still come out."""
    path = tmp_path / "run"
    path.mkdir()
    write_json_atomic(path / "run.json", {"scenario": "s", "t0": 0, "status": "target_crashed"})
    summary = Summary(scenario="s", verdict=Verdict.FAIL, status="target_crashed",
                      reason="target exited with code 1")
    paths = write_reports(load_run(path), summary, None)
    assert {p.name for p in paths} >= EXPECTED
    html = (path / "report.html").read_text(encoding="utf-8")
    assert "target exited with code 1" in html and "No checks were judged" in html


def test_regenerate_is_idempotent(tmp_path):
    """Writing the reports twice gives the same summary.json (harness report RUN_DIR)."""
    spec = SyntheticRun(duration_s=10)
    path = write_synthetic_run(tmp_path / "run", spec)
    summary = synthetic_summary(spec)
    write_reports(load_run(path), summary, None)
    first = (path / "summary.json").read_bytes()
    write_reports(load_run(path), summary, None)
    assert (path / "summary.json").read_bytes() == first
    assert Summary.model_validate_json(first) == summary
