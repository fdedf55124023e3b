"""Helpers for the report tests: synthetic run folders written through the run-folder writers."""

from __future__ import annotations

from pathlib import Path

from harness.report import write_reports
from harness.runfolder import load_run
from harness.testing import (
    SyntheticRun,
    synthetic_summary,
    write_synthetic_run,
)
from harness.verdicts import Check, Summary


def make_report(path: Path, spec: SyntheticRun, checks: list[Check] | None = None
                ) -> tuple[Path, Summary]:
    """A synthetic run folder with every report file written; returns (folder, summary)."""
    write_synthetic_run(path, spec)
    summary = synthetic_summary(spec, checks)
    write_reports(load_run(path), summary, None)
    return path, summary
