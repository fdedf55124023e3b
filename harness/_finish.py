"""From a run folder to verdicts and reports: shared by ``harness run`` and ``harness report``."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import yaml

from harness.errors import RunDirError, ScenarioError
from harness.runfolder import RunData, load_run
from harness.scenario import Scenario, scenario_from_dict
from harness.verdicts import Check, Summary, Verdict, overall_verdict


def scenario_of(run_dir: Path) -> Scenario:
    """The scenario as run, from ``scenario.yaml`` in the run folder."""
    path = run_dir / "scenario.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RunDirError(f"{path}: cannot read the scenario of this run ({exc})") from exc
    try:
        return scenario_from_dict(raw, source=str(path))
    except ScenarioError as exc:
        raise RunDirError(f"{path}: the scenario of this run no longer validates:\n{exc}") from exc


def _analysis_checks(run: RunData, scenario: Scenario) -> list[Check]:
    try:
        from harness.analysis import analyze

        return list(analyze(run, scenario))
    except Exception as exc:  # an analysis bug must not lose the run: show it as a check
        traceback.print_exc(file=sys.stderr)
        return [Check(name="analysis", metric="-", kind="run", category="run",
                      verdict=Verdict.ERROR, detail=f"the analysis failed: {exc!r}")]


def build_summary(run: RunData, scenario: Scenario, checks: list[Check]) -> Summary:
    """The summary of a run folder's manifest and checks."""
    manifest: dict[str, Any] = run.manifest
    status = manifest.get("status", "running")
    if status == "running":  # the harness itself was killed: the data so far is all there is
        status = "interrupted"
    reason = str(manifest.get("reason", ""))
    verdict = overall_verdict(checks)
    if status == "error":
        verdict = Verdict.ERROR
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
    )


def finish(run_dir: Path, scenario: Scenario | None = None) -> Summary:
    """Analyse a run folder and (re)write summary.json and every report."""
    run = load_run(run_dir)
    scenario = scenario or scenario_of(run_dir)
    checks = _analysis_checks(run, scenario)
    summary = build_summary(run, scenario, checks)
    from harness.report import write_reports, write_summary

    write_summary(run_dir, summary)
    try:
        write_reports(run, summary, scenario)
    except Exception as exc:  # the summary is written; a broken chart must not hide it
        traceback.print_exc(file=sys.stderr)
        print(f"harness: writing the reports failed: {exc!r}", file=sys.stderr)
    return summary
