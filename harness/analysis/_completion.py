"""Run checks (category ``run``): did the run finish, did every target stay alive?"""

from __future__ import annotations

from typing import Any

from harness.analysis._common import num
from harness.analysis._phases import Span
from harness.events import EventKind
from harness.runfolder import RunRecord
from harness.scenario import Scenario
from harness.verdicts import Check, CheckHead, Verdict


def _phase_at(t: float, spans: dict[str, Span]) -> str | None:
    for span in spans.values():
        if span.start <= t < span.end or (span.cut_short and t >= span.start):
            return span.name
    return None


def completed_check(run: RunRecord, scenario: Scenario, spans: dict[str, Span]) -> Check:
    """``run.completed``: status completed, a run_end event, and every phase finished."""
    status = str(run.manifest.get("status", "unknown"))
    ended = [e for e in run.events if e.get("kind") == EventKind.RUN_END]
    interrupted = [e for e in run.events if e.get("kind") == EventKind.INTERRUPTED]
    finished = [s.name for s in spans.values() if not s.cut_short]
    planned = [p.name for p in scenario.phases]
    not_done = [n for n in planned if n not in finished]
    ran_for = run.t_end
    evidence: dict[str, Any] = {
        "status": status, "phases_finished": finished, "phases_planned": planned,
        "run_end": bool(ended), "t_end": ran_for,
    }
    base = CheckHead(name="run.completed", metric="run", kind="run", category="run",
                     threshold=scenario.duration, unit="s", phases=list(planned))
    problems: list[str] = []
    if interrupted:
        first = interrupted[0]
        problems.append(f"interrupted by {first.get('signal', 'a signal')} at "
                        f"t={num(float(first.get('t', 0.0)))}s")
    if status != "completed":
        problems.append(f"status {status!r}")
    if not ended:
        problems.append("no run_end event (the harness itself was killed?)")
    if not_done:
        problems.append(f"phases not finished: {', '.join(not_done)}")
    if problems:
        # cut short by a signal or a killed harness: the run could not decide (inconclusive);
        # a crashed target or a failed tool is a failure of its own
        cut_short = status in ("interrupted", "running")
        return base.judged(Verdict.ERROR if cut_short else Verdict.FAIL, observed=ran_for, evidence=evidence,
                           detail=f"the run did not complete after {num(ran_for)}s of "
                            f"{num(scenario.duration)}s planned: {'; '.join(problems)}.")
    return base.judged(Verdict.PASS, observed=ran_for, evidence=evidence,
                       detail=f"the run completed all {len(planned)} phases in {num(ran_for)}s.")


def alive_checks(run: RunRecord, scenario: Scenario, spans: dict[str, Span]) -> list[Check]:
    """``target.alive[<name>]`` per target: FAIL on an unexpected exit of the target."""
    exits: dict[str, dict[str, Any]] = {}
    for event in run.events:
        if (event.get("kind") == EventKind.PROCESS_EXIT and event.get("role") == "target"
                and not event.get("expected", False)):
            exits.setdefault(str(event.get("process")), event)
    checks: list[Check] = []
    for target in scenario.all_targets:
        if target.kube is not None:
            continue  # no process of ours: target.restarts[<name>] judges its containers
        base = CheckHead(name=f"target.alive[{target.name}]", metric="alive",
                         target=target.name, kind="run", category="run")
        exit_event = exits.get(target.name)
        if exit_event is None:
            checks.append(base.judged(Verdict.PASS,
                                detail=f"target {target.name!r} ran until the end."))
            continue
        t = float(exit_event.get("t", 0.0))
        phase = _phase_at(t, spans)
        code = exit_event.get("returncode")
        at_phase = base.but(phases=[phase] if phase else [])
        checks.append(at_phase.judged(
            Verdict.FAIL, observed=t, unit="s",
            detail=(f"target {target.name!r} exited with code {code} at t={num(t)}s"
                    + (f" during phase {phase}" if phase else "") + "."),
            evidence={"returncode": code, "t": t, "phase": phase},
        ))
    return checks
