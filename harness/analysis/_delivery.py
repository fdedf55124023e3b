"""``load.delivery``: in the open model, did the load generator start the requests on time?

The open-model users (``harness.load.users.OpenHttpUser``) write ``arrivals.csv`` (columns in
``harness.load.ARRIVALS_COLUMNS``): per process and second, the arrivals due, started,
started late (more than ``load.late_tolerance`` after their intended time) and dropped
(``load.max_in_flight`` requests were already in flight). The check adds them up per phase
and over the run:

- PASS (category tool): late + dropped <= ``load.max_late_ratio`` x the arrivals due;
- FAIL (kind ``delivery``, category tool): more: the harness did not deliver the load it
  promised, so nothing it measured about the target can be trusted. The run's verdict is
  ERROR and its exit code 3 (a tool failed), never PASS (``harness.verdicts``);
- ERROR (category run): arrivals were scheduled but ``arrivals.csv`` holds none.

Closed-model scenarios get no such check.
"""

from __future__ import annotations

from typing import Any

from harness.analysis._common import num
from harness.analysis._phases import Span
from harness.load import ARRIVAL_COUNTS, ARRIVALS_FILE, arrival_counts, arrival_plan, requested
from harness.runfolder import RunRecord
from harness.scenario import Scenario
from harness.verdicts import Check, CheckHead, Verdict

NAME = "load.delivery"
COUNTS = ARRIVAL_COUNTS


def delivery_checks(run: RunRecord, scenario: Scenario, spans: dict[str, Span]) -> list[Check]:
    """One ``load.delivery`` check in the open model (see the module docstring)."""
    plan = arrival_plan(scenario)
    if plan is None:
        return []
    load = scenario.load
    head = CheckHead(name=NAME, metric="late_starts", kind="delivery", category="tool",
                     threshold=load.max_late_ratio, unit="ratio")
    by_phase = arrival_counts(run.path)
    totals = {k: float(sum(c[k] for c in by_phase.values())) for k in COUNTS}
    offset = {p.name: s for p, s, _ in scenario.phase_starts()}
    per_phase: dict[str, dict[str, Any]] = {}
    for name, span in spans.items():
        found = by_phase.get(name, {})
        counts: dict[str, float | None] = {k: found.get(k, 0) for k in COUNTS}
        asked = requested(plan.steps, offset.get(name, 0.0),
                          offset.get(name, 0.0) + (span.end - span.start))
        counts["requested"] = round(asked)
        started = float(counts["started"] or 0)
        counts["achieved_ratio"] = round(started / asked, 4) if asked else None
        per_phase[name] = counts
    evidence: dict[str, Any] = {**{k: int(v) for k, v in totals.items()},
                                "late_tolerance_s": load.late_tolerance,
                                "max_in_flight": load.max_in_flight, "phases": per_phase}
    asked_total = requested(plan.steps, 0.0, plan.end)
    if not totals["intended"]:
        if asked_total <= 0:
            return [head.judged(Verdict.SKIP, detail="no phase asks for any requests")]
        return [head.but(category="run").judged(
            Verdict.ERROR, evidence=evidence,
            detail=f"the scenario asks for {num(asked_total)} requests but {ARRIVALS_FILE} "
                   "records no arrivals: the open-model user did not run")]
    missed = totals["late"] + totals["dropped"]
    ratio = missed / totals["intended"]
    detail = (f"{int(totals['intended'])} arrivals due, {int(totals['started'])} started, "
              f"{int(totals['late'])} late (> {load.late_tolerance * 1000:g} ms), "
              f"{int(totals['dropped'])} dropped (max_in_flight {load.max_in_flight}): "
              f"{num(ratio * 100)}% not started on time (limit {num(load.max_late_ratio * 100)}%)")
    if ratio > load.max_late_ratio:
        return [head.judged(Verdict.FAIL, observed=ratio, evidence=evidence,
                            detail="the load generator could not deliver the load: " + detail)]
    return [head.judged(Verdict.PASS, observed=ratio, evidence=evidence, detail=detail)]
