"""From a run folder to verdicts and reports: shared by ``harness run`` and ``harness report``."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from harness.errors import RunFolderWriteError
from harness.runfolder import RunRecord, load_run, scenario_of
from harness.scenario import Scenario
from harness.verdicts import Check, Summary, Verdict, overall_verdict


def _analysis_checks(run: RunRecord, scenario: Scenario) -> list[Check]:
    try:
        from harness.analysis import analyze

        return list(analyze(run, scenario))
    except Exception as exc:  # an analysis bug must not lose the run: show it as a check
        traceback.print_exc(file=sys.stderr)
        return [Check(name="analysis", metric="-", kind="run", category="run",
                      verdict=Verdict.ERROR, detail=f"the analysis failed: {exc!r}")]


def build_summary(run: RunRecord, scenario: Scenario, checks: list[Check]) -> Summary:
    """The summary of a run folder's manifest and checks."""
    manifest: dict[str, Any] = run.manifest
    status = manifest.get("status", "running")
    if status == "running":  # the harness itself was killed: the data so far is all there is
        status = "interrupted"
    reason = str(manifest.get("reason", ""))
    verdict = overall_verdict(checks)
    if status == "error":  # a tool or the environment failed: the data cannot be trusted
        verdict = Verdict.ERROR
    elif verdict == Verdict.PASS and status == "interrupted":  # cut short: never a pass
        verdict = Verdict.INCONCLUSIVE
    return Summary(
        scenario=scenario.name,
        description=scenario.description,
        variant=scenario.variant,
        verdict=verdict,
        status=status,
        started_at=manifest.get("started_at"),
        ended_at=manifest.get("ended_at"),
        duration_s=round(run.t_end, 3),
        checks=checks,
        versions=dict(manifest.get("versions", {})),
        reason=reason,
        target_version=_text_or_none(manifest.get("target_version")),
        target_version_source=_text_or_none(manifest.get("target_version_source")),
        ci_url=_text_or_none(manifest.get("ci_url")),
    )


class ReportNotWritten(RunFolderWriteError):
    """The analysis ran but its report could not be written in full (exit 3)."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary  # the verdict as judged, for the terminal


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def finish(run_dir: Path, scenario: Scenario | None = None) -> Summary:
    """Analyse a run folder and (re)write summary.json and every report.

    ReportNotWritten (an EnvironmentFailure: exit 3) when a file could not be written (a
    full disk, a rendering bug): a report is never announced that is not all there.
    """
    run = load_run(run_dir)
    scenario = scenario or scenario_of(run_dir)
    checks = _analysis_checks(run, scenario)
    summary = build_summary(run, scenario, checks)
    from harness.report import write_reports, write_summary

    try:
        write_summary(run_dir, summary)
        write_reports(run, summary, scenario)
    except Exception as exc:  # the run is judged; say plainly that its report is not whole
        if not isinstance(exc, OSError):
            traceback.print_exc(file=sys.stderr)
        raise ReportNotWritten(f"{run_dir}: the report could not be written in full: {exc}",
                               summary) from exc
    return summary
