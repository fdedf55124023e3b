"""Writing the report files of one run folder."""

from __future__ import annotations

from pathlib import Path

from harness.report._charts import render_charts
from harness.report._html import render_html
from harness.report._junit import render_junit
from harness.report._markdown import render_markdown
from harness.runfolder import RunRecord, can_write_in, write_json_atomic
from harness.scenario import Scenario
from harness.verdicts import Summary

REPORT_FILES = ("summary.json", "report.html", "report.md", "junit.xml")


def report_problems(run_dir: Path) -> list[str]:
    """Why the reports of ``run_dir`` could not be written there, one line each (a folder
    where a report file goes, a file where ``charts/`` goes, a folder we cannot write);
    empty when they can. Checked before ``harness report`` analyses anything."""
    root = Path(run_dir)
    if not root.is_dir():
        return []  # load_run says what is wrong with the folder itself
    problems = [f"{root / name}: is a folder; the report writes a file here"
                for name in REPORT_FILES if (root / name).is_dir()]
    charts = root / "charts"
    if charts.exists() and not charts.is_dir():
        problems.append(f"{charts}: is a file; the report writes its charts in a folder here")
    for folder in (root, charts):
        if folder.is_dir() and not can_write_in(folder):
            problems.append(f"{folder}: cannot write here")
    return problems


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_summary(run_dir: Path, summary: Summary) -> Path:
    """``summary.json`` (the Summary model, schema-versioned), written atomically."""
    path = Path(run_dir) / "summary.json"
    write_json_atomic(path, summary.model_dump(mode="json"))
    return path


def write_reports(run: RunRecord, summary: Summary, scenario: Scenario | None) -> list[Path]:
    """summary.json, charts/*.png, report.html, report.md and junit.xml into ``run.path``.

    Works on partial folders too (interrupted runs, crashed targets, no checks).
    """
    root = run.path
    paths = [write_summary(root, summary)]
    charts = render_charts(run, summary.checks, root / "charts")
    paths += charts.values()
    html = render_html(run, summary, scenario, charts)
    paths.append(_write_atomic(root / "report.html", html.encode("utf-8")))
    paths.append(_write_atomic(root / "report.md", render_markdown(run, summary).encode("utf-8")))
    paths.append(_write_atomic(root / "junit.xml", render_junit(summary)))
    return paths
