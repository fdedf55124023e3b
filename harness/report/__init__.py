"""Reports people read and CI acts on: charts, report.html, report.md, junit.xml, compare.

``write_reports`` turns a run folder plus its Summary into every report file;
``compare_runs`` judges a candidate run against a baseline run. Both work from the run
folder alone, also for interrupted runs or runs whose target crashed.
"""

from harness.report._compare import RELATIVE_NOTE, CompareResult, CompareRow, compare_row, compare_runs
from harness.report._downsample import envelope
from harness.report._evidence_render import baseline_band, grew_tables, slope_line
from harness.report._junit import render_junit
from harness.report._markdown import cell, step_summary
from harness.report._write import report_problems, write_reports, write_summary

__all__ = [
    "RELATIVE_NOTE",
    "CompareResult",
    "CompareRow",
    "baseline_band",
    "cell",
    "compare_row",
    "compare_runs",
    "envelope",
    "grew_tables",
    "render_junit",
    "report_problems",
    "slope_line",
    "step_summary",
    "write_reports",
    "write_summary",
]
