"""``request_rate[<phase>]``: a loaded phase whose request rate collapsed is never a PASS.

A frozen target, toxiproxy or Locust shows first as requests that stop coming: the
latency checks see fewer requests, not slower ones. This check compares each loaded
phase's rate to what its users should give:

- baseline: the first phase with users and no faults; its rate per user is the 75th
  percentile of its per-second request counts (failures and stuck requests included) after
  its ramp (a freeze over less than a quarter of it does not pull the baseline down);
- expected rate of a phase: that rate per user x the phase's users;
- collapse: some stretch of ``lasting`` seconds (default 5 s; longer when the baseline is so
  low that fewer than ``MIN_EXPECTED`` requests would be expected in it, so chance cannot
  look like a collapse) in which the phase sent fewer than ``min`` (default 10%) of the
  expected requests. The ramp at the phase's start (users changing at spawn_rate, plus 1 s)
  is left out.

Verdicts: no collapse, PASS. A collapse in a phase with faults that the scenario did not name
in ``thresholds.request_rate.phases``: SKIP, with the numbers (a stalling fault, such as
``timeout``, ``down`` or a long latency, is meant to do this). A collapse in a fault-free
phase, or a named one: FAIL (category target) when the load side demonstrably still worked
in that stretch (it recorded requests: completions, failures, or requests stuck in flight at
the phase's end, see harness/load/_inflight.py), INCONCLUSIVE (category run, exit 4) when
it recorded nothing at all: then the harness cannot tell the target from the load side.
Phases with ``users: 0`` are not judged (SKIP when named). A tool that froze or exited ends
the run as a tool failure before this runs; its phases are cut at its last sign of life.
"""

from __future__ import annotations

import math

import numpy as np

from harness.analysis._common import num
from harness.analysis._latency import WINDOW_S, never_ran
from harness.analysis._phases import Span, effective_users, load_phases
from harness.runfolder import RunRecord
from harness.scenario import RATE_KEY, Phase, Scenario, Threshold
from harness.verdicts import Check, CheckHead, Verdict

DEFAULT_MIN_RATIO = 0.10
DEFAULT_LASTING = 5.0  # seconds
MIN_EXPECTED = 20.0  # requests a collapse stretch must expect at the baseline rate
BASELINE_QUANTILE = 75.0
RAMP_PAD = 1.0  # seconds left out after the users reached their level


def _ramp(scenario: Scenario, index: int) -> float:
    """Seconds at the start of phase ``index`` while its users ramp to their level."""
    phase = scenario.phases[index]
    if scenario.open_model:  # arrivals start at their rate at once: no users to ramp
        return RAMP_PAD
    before = effective_users(scenario, scenario.phases[index - 1]) if index else 0
    rate = phase.spawn_rate if phase.spawn_rate is not None else scenario.load.spawn_rate
    return abs(effective_users(scenario, phase) - before) / rate + RAMP_PAD


def _counts(run: RunRecord, span: Span, skip: float, not_before: float) -> np.ndarray:
    """Requests per whole 1 s window inside the span, after ``skip`` seconds."""
    t = run.latency.t
    mask = (t >= max(span.start + skip, not_before)) & (t + WINDOW_S <= span.end)
    counts: np.ndarray = np.nan_to_num(np.asarray(run.latency.requests[mask], dtype=float))
    return counts


def _window_times(run: RunRecord, span: Span, skip: float, not_before: float) -> np.ndarray:
    t = run.latency.t
    mask = (t >= max(span.start + skip, not_before)) & (t + WINDOW_S <= span.end)
    return np.asarray(t[mask], dtype=float)


def rate_checks(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], threshold: Threshold | None
) -> list[Check]:
    """One ``request_rate[<phase>]`` check per judged phase (see the module docstring)."""
    ratio = DEFAULT_MIN_RATIO if threshold is None or threshold.min is None else threshold.min
    lasting = DEFAULT_LASTING if threshold is None or threshold.lasting is None \
        else threshold.lasting
    not_before = threshold.ignore_first if threshold is not None else 0.0
    named = list(threshold.phases) if threshold is not None and threshold.phases else None
    names = named or load_phases(scenario)
    index = {p.name: i for i, p in enumerate(scenario.phases)}
    head = CheckHead(name=RATE_KEY, metric=RATE_KEY, kind="rate", threshold=ratio,
                     unit="of baseline")
    if not names:
        return []
    base = next((p for p in scenario.phases if p.name in spans and not p.any_faults
                 and effective_users(scenario, p) > 0), None)
    if base is None:
        return [head.judged(Verdict.SKIP, detail="no phase with users and without faults ran, "
                            "so there is no baseline rate to judge a collapse against.")]
    base_counts = _counts(run, spans[base.name], _ramp(scenario, index[base.name]), not_before)
    base_users = effective_users(scenario, base)
    base_rate = float(np.percentile(base_counts, BASELINE_QUANTILE)) if len(base_counts) else 0.0
    if base_rate <= 0:
        why = (f"no whole second of phase {base.name!r} after its ramp" if not len(base_counts)
               else f"no requests in most of phase {base.name!r}")
        return [head.but(name=f"{RATE_KEY}[{n}]", phases=[n], category="run").judged(
            Verdict.INCONCLUSIVE, detail=_no_baseline(why), observed=0.0) for n in names]
    per_user = base_rate / base_users
    out: list[Check] = []
    for name in names:
        h = head.but(name=f"{RATE_KEY}[{name}]", phases=[name])
        span = spans.get(name)
        if span is None:
            out.append(never_ran(run, h, name))
            continue
        out.append(_judge(run, scenario, span, scenario.phases[index[name]], h,
                          _ramp(scenario, index[name]), per_user, ratio, lasting, not_before,
                          explicit=named is not None, baseline=base.name))
    return out


def _no_baseline(why: str) -> str:
    return (f"cannot take a baseline rate: {why}. The load never ran properly, so no "
            "collapse can be judged.")


def _judge(
    run: RunRecord, scenario: Scenario, span: Span, phase: Phase, head: CheckHead, ramp: float,
    per_user: float, ratio: float, lasting: float, not_before: float, *, explicit: bool,
    baseline: str,
) -> Check:
    users = effective_users(scenario, phase)
    if users == 0:
        return head.judged(Verdict.SKIP, detail=f"phase {span.name!r} has no users: no rate "
                                                "to judge.")
    expected = per_user * users  # requests per second
    width = max(1, math.ceil(max(lasting, MIN_EXPECTED / expected)))
    counts = _counts(run, span, ramp, not_before)
    times = _window_times(run, span, ramp, not_before)
    head = head.but(window=(span.start + ramp, span.end))
    evidence: dict[str, object] = {
        "baseline_phase": baseline, "expected_per_s": round(expected, 3),
        "stretch_s": width, "ramp_s": round(ramp, 3), "windows": len(counts),
    }
    if len(counts) < width and span.tool_cut:
        return head.judged(Verdict.INCONCLUSIVE, evidence=evidence,
                           detail=f"phase {span.name!r} not judged: a tool failed at "
                                  f"t={num(span.end)}s, {len(counts)}s after its ramp.")
    if len(counts) < width:
        return head.judged(Verdict.SKIP, evidence=evidence,
                           detail=f"phase {span.name!r} is too short to judge its rate: "
                                  f"{len(counts)}s after its ramp, a collapse needs {width}s.")
    sums = np.convolve(counts, np.ones(width), mode="valid")  # requests per stretch
    lowest = int(np.argmin(sums))
    observed = float(sums[lowest]) / (expected * width)  # fraction of the expected rate
    evidence.update(lowest_per_s=round(float(sums[lowest]) / width, 3),
                    lowest_at=round(float(times[lowest]), 3))
    below = np.flatnonzero(sums < ratio * expected * width)
    if not len(below):
        return head.judged(
            Verdict.PASS, observed=observed, evidence=evidence,
            detail=(f"the request rate in {span.name!r} never fell under {ratio:.0%} of the "
                    f"{num(expected)}/s expected for {width}s (lowest {width}s: "
                    f"{num(float(sums[lowest]) / width)}/s, {observed:.0%})."))
    first = int(below[0])
    t0 = float(times[first])
    stretch = slice(first, len(counts))
    requests = float(counts[stretch].sum())
    mask = (run.latency.t >= t0) & (run.latency.t + WINDOW_S <= span.end)
    failures = float(np.nansum(run.latency.failures[mask]))
    evidence.update(collapsed_at=round(t0, 3), requests_after=requests, failures_after=failures)
    what = (f"the request rate in {span.name!r} fell under {ratio:.0%} of the {num(expected)}/s "
            f"its {users} users gave in {baseline!r}, from t={num(t0)}s (lowest {width}s: "
            f"{num(float(sums[lowest]) / width)}/s, {observed:.0%})")
    if span.has_faults and not explicit:
        return head.judged(
            Verdict.SKIP, observed=observed, evidence=evidence,
            detail=(f"{what}, while faults were active: a stalling fault does this by design, "
                    "so it is not judged (name the phase in thresholds.request_rate.phases "
                    "to judge it)."))
    if requests > 0:
        return head.judged(
            Verdict.FAIL, observed=observed, evidence=evidence,
            detail=(f"{what}. From then on to the phase's end {num(failures)} of "
                    f"{num(requests)} requests failed or hung (a request still in flight at "
                    "the phase's end counts as failed): the target stopped answering."))
    return head.but(category="run").judged(
        Verdict.INCONCLUSIVE, observed=observed, evidence=evidence,
        detail=(f"{what}, and from then on no request completed, failed or hung: the load "
                "stopped without a trace, so the harness cannot tell whether the target or "
                "the load side stalled."))
