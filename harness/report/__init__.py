"""Reports people read and CI acts on: charts, report.html, report.md, junit.xml, compare.

``write_reports`` turns a run folder plus its Summary into every report file;
``compare_runs`` judges a candidate run against a baseline run. Both work from the run
folder alone, also for interrupted runs or runs whose target crashed.
"""

from harness.report._compare import CompareResult, CompareRow, compare_runs
from harness.report._write import write_reports, write_summary

__all__ = ["CompareResult", "CompareRow", "compare_runs", "write_reports", "write_summary"]
