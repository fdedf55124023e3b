"""Recovery checks: after the faults end and load drops, is the level back to baseline?

This is what separates a leak from a busy service: a busy service gives its tasks and
descriptors back once the load is gone; a leaky one keeps them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis._common import TargetRef, num, unit_of
from harness.analysis._evidence import grew_sentence, what_grew
from harness.analysis._phases import Span, first_recovery_phase
from harness.runfolder import RunRecord
from harness.scenario import Scenario, Threshold
from harness.verdicts import Check, CheckHead, Verdict

MIN_BASELINE_POINTS = 3
JUDGE_WINDOW_FRACTION = 0.25  # the level at recover_within: median over the last quarter
JUDGE_WINDOW_MIN_SAMPLES = 3  # ... of at least 3 samples
JUDGE_WINDOW_MAX_SAMPLES = 10  # ... and at most 10


def _judge_window(recover_within: float, interval: float) -> float:
    samples = recover_within * JUDGE_WINDOW_FRACTION / interval
    samples = min(max(samples, JUDGE_WINDOW_MIN_SAMPLES - 1), JUDGE_WINDOW_MAX_SAMPLES - 1)
    return samples * interval


def _first_recovered(t: np.ndarray, v: np.ndarray, limit: float) -> float | None:
    """First time a 3-sample rolling median is within the limit."""
    if len(v) < 3:
        hits = np.nonzero(v <= limit)[0]
        return float(t[hits[0]]) if len(hits) else None
    rolled = np.median(np.lib.stride_tricks.sliding_window_view(v, 3), axis=1)
    hits = np.nonzero(rolled <= limit)[0]
    return float(t[hits[0] + 2]) if len(hits) else None


def recovery_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, recover_within: float,
) -> Check:
    """``<key>.recovery[<target>]``: back within tolerance of the warmup baseline in time."""
    recovery = first_recovery_phase(scenario)
    first = scenario.phases[0].name
    base = CheckHead(name=f"{key}.recovery[{ref.name}]", metric=key, target=ref.name,
                     kind="recovery", unit=unit_of(key), category=ref.category,
                     phases=(first, recovery) if recovery else (first,))
    if recovery is None:
        return base.judged(Verdict.SKIP,
                     detail="no recovery phase in the scenario (a phase with users: 0 and no "
                            "faults after the load/fault phases).")
    series = run.series.get((ref.name, key))
    if series is None or len(series.t) == 0:
        return base.judged(Verdict.ERROR, detail=f"no samples of {key} for {ref.name}.")
    ok = np.isfinite(series.v)
    t, v = series.t[ok], series.v[ok]
    warm = spans.get(first)
    if warm is None:
        return base.judged(Verdict.ERROR,
                     detail=f"the baseline phase {first!r} never ran.")
    in_warm = (t >= max(warm.start, threshold.ignore_first)) & (t < warm.end)
    if int(in_warm.sum()) < MIN_BASELINE_POINTS:
        return base.judged(Verdict.ERROR,
                     detail=f"only {int(in_warm.sum())} samples of {key} in {first!r} after "
                            f"ignore_first (need >= {MIN_BASELINE_POINTS}) for a baseline.")
    baseline = float(np.median(v[in_warm]))
    limit = baseline * (1.0 + threshold.tolerance) + threshold.tolerance_abs
    span = spans.get(recovery)
    if span is None:
        return base.judged(Verdict.ERROR, threshold=limit,
                     detail=f"the run ended before the recovery phase {recovery!r} started.")
    deadline = span.start + recover_within
    in_rec = (t >= span.start) & (t <= min(deadline, span.end))
    if not in_rec.any():
        return base.judged(Verdict.ERROR, threshold=limit,
                     detail=f"no samples of {key} for {ref.name} in the recovery "
                            f"phase {recovery!r}.")
    t_rec, v_rec = t[in_rec], v[in_rec]
    judged_at = float(t_rec[-1])
    early = judged_at < deadline - scenario.sample_interval
    tail = t_rec >= judged_at - _judge_window(recover_within, scenario.sample_interval)
    observed = float(np.median(v_rec[tail]))
    before = (t >= warm.start) & (t < span.start)
    peak = float(v[before].max()) if before.any() else observed
    verdict = Verdict.PASS if observed <= limit else Verdict.FAIL
    evidence: dict[str, Any] = {
        "baseline": baseline, "baseline_samples": int(in_warm.sum()), "limit": limit,
        "peak_before_recovery": peak, "recovery_start": span.start,
        "recover_within_s": recover_within, "judged_at": judged_at,
        "judged_samples": [float(x) for x in v_rec[tail]],
        "recovered_at": _first_recovered(t_rec, v_rec, limit),
        "excess": observed - limit,
        "excess_given_back": ((peak - observed) / (peak - baseline)) if peak > baseline else None,
    }
    if ref.category == "target":
        evidence.update(what_grew(run, ref.name, "baseline", "end", threshold.ignore_tasks))
    when = (f"{num(judged_at - span.start)}s into {recovery!r} (the data ends before "
            f"recover_within {num(recover_within)}s)" if early
            else f"{num(recover_within)}s into {recovery!r}")
    limit_text = (f"baseline {num(baseline)} + {threshold.tolerance:.0%}"
                  + (f" + {num(threshold.tolerance_abs)}" if threshold.tolerance_abs else "")
                  + f" = {num(limit)}")
    if verdict is Verdict.PASS:
        at = evidence["recovered_at"]
        detail = (f"{key} of {ref.name} was {num(observed)} {when}, within {limit_text} "
                  f"(peak {num(peak)}" + (f", back at t={num(at)}s)." if at is not None else ")."))
    else:
        detail = (f"{key} of {ref.name} stayed at {num(observed)} {when}, "
                  f"{num(observed - limit)} over {limit_text} (peak {num(peak)}).")
        detail += grew_sentence(evidence)
    return base.judged(verdict, observed=observed, threshold=limit, detail=detail,
                 window=(span.start, judged_at), evidence=evidence)
