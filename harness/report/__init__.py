"""Reports people read and CI acts on: charts, report.html, report.md, junit.xml, compare,
and the stability report across many runs (history).

``write_reports`` turns a run folder plus its Summary into every report file;
``compare_runs`` judges a candidate run against a baseline run. Both work from the run
folder alone, also for interrupted runs or runs whose target crashed.
"""

from harness.report._compare import RELATIVE_NOTE, CompareResult, CompareRow, compare_row, compare_runs
from harness.report._downsample import envelope
from harness.report._evidence_render import baseline_band, grew_tables, slope_line
from harness.report._history import (
    CheckHistory,
    CheckPoint,
    History,
    RunEntry,
    ScenarioHistory,
    classify_run,
    collect_history,
    failing_since,
    find_run_folders,
    flakiness,
    point_class,
    read_entry,
)
from harness.report._history_render import write_history
from harness.report._junit import render_junit
from harness.report._markdown import cell, step_summary
from harness.report._write import report_problems, write_reports, write_summary

__all__ = [
    "RELATIVE_NOTE",
    "CheckHistory",
    "CheckPoint",
    "CompareResult",
    "CompareRow",
    "History",
    "RunEntry",
    "ScenarioHistory",
    "baseline_band",
    "cell",
    "classify_run",
    "collect_history",
    "compare_row",
    "compare_runs",
    "envelope",
    "failing_since",
    "find_run_folders",
    "flakiness",
    "grew_tables",
    "point_class",
    "read_entry",
    "render_junit",
    "report_problems",
    "slope_line",
    "step_summary",
    "write_history",
    "write_reports",
    "write_summary",
]
