"""Growth checks: is a resource still climbing over the judged phases?

FAIL only when the Theil-Sen slope is over the limit AND the Hamed-Rao Mann-Kendall test
says the increase is significant at ``alpha``: the slope guards against a step that
plateaus (busy, not leaky), the test guards against noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.analysis._common import TargetRef, num, unit_of
from harness.analysis._evidence import grew_sentence, process_sentence, what_grew, which_process_grew
from harness.analysis._phases import Span, covered, default_growth_phases, select, settle_for
from harness.analysis._stats import MIN_TREND_POINTS, Trend, trend
from harness.runfolder import RunRecord
from harness.scenario import Scenario, Threshold
from harness.verdicts import Check, CheckHead, Verdict


class _Data:
    """The samples a growth check judges, or the reason there are none."""

    def __init__(
        self, run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
        threshold: Threshold, ref: TargetRef,
    ) -> None:
        self.run, self.key, self.threshold, self.ref = run, key, threshold, ref
        self.names = threshold.phases or default_growth_phases(scenario)
        self.ran, self.missing = covered(self.names, spans)
        self.t = np.empty(0)
        self.v = np.empty(0)
        self.problem = ""
        series = run.series.get((ref.name, key))
        if not self.ran:
            self.problem = f"none of the phases {', '.join(self.names)} ran"
        elif series is None or len(series.t) == 0:
            self.problem = f"no samples of {key} for {ref.name}"
        else:
            mask = select(series.t, self.ran, not_before=threshold.ignore_first,
                          settle=threshold.settle)
            self.t, self.v = series.t[mask], series.v[mask]
            self.v_ok = np.isfinite(self.v)
            self.t, self.v = self.t[self.v_ok], self.v[self.v_ok]
            if len(self.t) < MIN_TREND_POINTS:
                self.problem = (
                    f"only {len(self.t)} samples of {key} for {ref.name} in {', '.join(self.names)} "
                    f"after settle/ignore_first (need >= {MIN_TREND_POINTS}): lengthen the "
                    "phases or set settle: 0s"
                )
        self.settles = {s.name: round(settle_for(s, threshold.settle), 3) for s in self.ran}

    @property
    def note(self) -> str:
        return f" (phases {', '.join(self.missing)} never ran)" if self.missing else ""


def _base_evidence(data: _Data, result: Trend, interval: float) -> dict[str, Any]:
    """The trend's numbers, and for a target what grew: task groups, processes of its tree."""
    first = float(np.median(data.v[: max(1, result.window)]))
    last = float(np.median(data.v[-max(1, result.window):]))
    evidence: dict[str, Any] = {
        "p_value": result.p_value,
        "mann_kendall_s": result.s,
        "z": result.z,
        "hamed_rao_factor": result.correction,
        "n_samples": len(data.t),
        "n_tested": result.n,
        "window_samples": result.window,
        "window_s": result.window * interval,
        "settle_s": data.settles,
        "t_first": float(data.t[0]),
        "t_last": float(data.t[-1]),
        "level_first": first,
        "level_last": last,
    }
    if data.ref.category == "target":
        evidence.update(what_grew(data.run, data.ref.name, "baseline", "peak",
                                  data.threshold.ignore_tasks))
        evidence.update(which_process_grew(data.run, data.ref.name, data.key, float(data.t[0]),
                                           float(data.t[-1])))
    return evidence


def _verdict(slope: float, limit: float, p: float, alpha: float) -> Verdict:
    return Verdict.FAIL if slope > limit and p < alpha else Verdict.PASS


def _reason(slope: float, limit: float, p: float, alpha: float, unit: str) -> str:
    over = slope > limit
    significant = p < alpha
    if over and significant:
        return f"over the limit {num(limit)} {unit} and significant (p={num(p)} < {alpha})"
    if over:
        return f"over the limit {num(limit)} {unit} but not significant (p={num(p)} >= {alpha})"
    if significant:
        return f"significant (p={num(p)}) but within the limit {num(limit)} {unit}"
    return f"within the limit {num(limit)} {unit} (p={num(p)})"



def _base_fields(data: _Data, check: str, limit: float, per: str) -> CheckHead:
    """The fields every growth check shares, judged or not: ``<key>.<check>[<target>]``."""
    return CheckHead(name=f"{data.key}.{check}[{data.ref.name}]", metric=data.key,
                     target=data.ref.name, kind="growth", threshold=limit,
                     unit=f"{unit_of(data.key)}/{per}", category=data.ref.category,
                     phases=list(data.names))


def _unjudged(base: CheckHead, data: _Data) -> Check:
    """No verdict: too few samples, or no samples at all (never a PASS)."""
    return base.judged(Verdict.ERROR, detail=f"cannot judge growth: {data.problem}.")


def _judged(
    base: CheckHead, verdict: Verdict, observed: float, detail: str, data: _Data,
    evidence: dict[str, Any],
) -> Check:
    """A judged growth check; a failing one names the task groups or the process that grew."""
    if verdict is Verdict.FAIL:
        detail += grew_sentence(evidence) + process_sentence(evidence, unit_of(base.metric))
    return base.judged(verdict, observed=observed, detail=detail,
                       window=(float(data.t[0]), float(data.t[-1])), evidence=evidence)


def _judge_trend(
    base: CheckHead, data: _Data, result: Trend, scale: float, slope_key: str,
    interval: float, extra: dict[str, Any],
) -> Check:
    """The verdict on a trend: its slope (per ``scale`` units of x) against the limit."""
    slope = result.slope * scale
    limit = base.threshold if base.threshold is not None else math.inf
    verdict = _verdict(slope, limit, result.p_value, data.threshold.alpha)
    evidence = _base_evidence(data, result, interval)
    evidence[slope_key] = slope
    evidence.update(extra)
    if "requests_served" in extra:
        context = f"{num(extra['requests_served'])} requests served"
    else:
        medians = "" if result.window == 1 else f" of {result.window}-sample medians"
        context = (f"{num(evidence['level_first'])} -> {num(evidence['level_last'])}, "
                   f"{result.n} points{medians}")
    detail = (f"{data.key} of {data.ref.name} changed {num(slope)} {base.unit} over "
              f"{', '.join(data.names)}{data.note} ({context}): "
              f"{_reason(slope, limit, result.p_value, data.threshold.alpha, base.unit)}.")
    return _judged(base, verdict, slope, detail, data, evidence)


def growth_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, limit_per_min: float,
) -> Check:
    """``<key>.growth[<target>]``: Theil-Sen slope per minute + Hamed-Rao Mann-Kendall."""
    data = _Data(run, scenario, spans, key, threshold, ref)
    base = _base_fields(data, "growth", limit_per_min, "min")
    if data.problem:
        return _unjudged(base, data)
    return _judge_trend(base, data, trend(data.t, data.v), 60.0, "slope_per_min",
                        scenario.sample_interval, {})


def _requests_served_by(run: RunRecord, t: np.ndarray) -> np.ndarray:
    """Cumulative requests served at each time of ``t`` (from the latency windows)."""
    lat = run.latency
    cumulative = np.cumsum(np.nan_to_num(lat.requests, nan=0.0))
    return np.interp(t, lat.t, cumulative, left=0.0) if len(lat.t) else np.zeros(len(t))


def growth_per_1k_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, limit: float,
) -> Check:
    """``<key>.growth_per_1k[<target>]``: slope against cumulative requests served."""
    data = _Data(run, scenario, spans, key, threshold, ref)
    x = _requests_served_by(run, data.t)
    base = _base_fields(data, "growth_per_1k", limit, "1k requests")
    if data.problem:
        return _unjudged(base, data)
    served = float(x[-1] - x[0]) if len(x) else 0.0
    if served <= 0:
        return base.judged(Verdict.ERROR,
                     detail=f"cannot judge growth per request: no requests served in "
                           f"{', '.join(data.names)}.")
    return _judge_trend(base, data, trend(x, data.v), 1000.0, "slope_per_1k_requests",
                        scenario.sample_interval, {"requests_served": served})
