"""Growth checks: is a resource still climbing over the judged phases?

FAIL only when the Theil-Sen slope is over the limit AND the Hamed-Rao Mann-Kendall test
says the increase is significant at ``alpha``: the slope guards against a step that
plateaus (busy, not leaky), the test guards against noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis._common import TargetRef, num, unit_of
from harness.analysis._evidence import grew_sentence, what_grew
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
        self.names = threshold.phases or default_growth_phases(scenario)
        self.ran, self.missing = covered(self.names, spans)
        self.t = np.empty(0)
        self.v = np.empty(0)
        self.problem = ""
        series = run.series.get((ref.name, key))
        if not self.ran:
            self.problem = f"none of the phases {self.names} ran"
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
                    f"only {len(self.t)} samples of {key} for {ref.name} in {self.names} "
                    f"after settle/ignore_first (need >= {MIN_TREND_POINTS}): lengthen the "
                    "phases or set settle: 0s"
                )
        self.settles = {s.name: round(settle_for(s, threshold.settle), 3) for s in self.ran}

    @property
    def note(self) -> str:
        return f" (phases {self.missing} never ran)" if self.missing else ""


def _base_evidence(data: _Data, result: Trend, interval: float) -> dict[str, Any]:
    first = float(np.median(data.v[: max(1, result.window)]))
    last = float(np.median(data.v[-max(1, result.window):]))
    return {
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



def _base_fields(
    data: _Data, name: str, key: str, ref: TargetRef, limit: float, unit: str
) -> CheckHead:
    """The fields every growth check shares, judged or not."""
    return CheckHead(name=name, metric=key, target=ref.name, kind="growth", threshold=limit,
                     unit=unit, category=ref.category, phases=tuple(data.names))


def _judged(
    base: CheckHead, verdict: Verdict, observed: float, detail: str, data: _Data,
    evidence: dict[str, Any],
) -> Check:
    """A judged growth check; a failing one names the task groups that grew."""
    if verdict is Verdict.FAIL:
        detail += grew_sentence(evidence)
    return base.judged(verdict, observed=observed, detail=detail,
                       window=(float(data.t[0]), float(data.t[-1])), evidence=evidence)

def growth_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, limit_per_min: float,
) -> Check:
    """``<key>.growth[<target>]``: Theil-Sen slope per minute + Hamed-Rao Mann-Kendall."""
    data = _Data(run, scenario, spans, key, threshold, ref)
    unit = f"{unit_of(key)}/min"
    base = _base_fields(data, f"{key}.growth[{ref.name}]", key, ref, limit_per_min, unit)
    if data.problem:
        return base.judged(Verdict.ERROR, detail=f"cannot judge growth: {data.problem}.")
    result = trend(data.t, data.v)
    per_min = result.slope * 60.0
    verdict = _verdict(per_min, limit_per_min, result.p_value, threshold.alpha)
    evidence = _base_evidence(data, result, scenario.sample_interval)
    evidence["slope_per_min"] = per_min
    if ref.category == "target":
        evidence.update(what_grew(run, ref.name, "baseline", "peak", threshold.ignore_tasks))
    detail = (
        f"{key} of {ref.name} changed {num(per_min)} {unit} over {', '.join(data.names)}"
        f"{data.note} ({num(evidence['level_first'])} -> {num(evidence['level_last'])}, "
        f"{result.n} points{'' if result.window == 1 else f' of {result.window}-sample medians'}"
        f"): {_reason(per_min, limit_per_min, result.p_value, threshold.alpha, unit)}."
    )
    return _judged(base, verdict, per_min, detail, data, evidence)


def growth_per_1k_check(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str,
    threshold: Threshold, ref: TargetRef, limit: float,
) -> Check:
    """``<key>.growth_per_1k[<target>]``: slope against cumulative requests served."""
    data = _Data(run, scenario, spans, key, threshold, ref)
    unit = f"{unit_of(key)}/1k requests"
    base = _base_fields(data, f"{key}.growth_per_1k[{ref.name}]", key, ref, limit, unit)
    if data.problem:
        return base.judged(Verdict.ERROR, detail=f"cannot judge growth: {data.problem}.")
    lat = run.latency
    requests = np.nan_to_num(lat.requests, nan=0.0)
    cumulative = np.cumsum(requests)
    x = np.interp(data.t, lat.t, cumulative, left=0.0) if len(lat.t) else np.zeros(len(data.t))
    served = float(x[-1] - x[0]) if len(x) else 0.0
    if served <= 0:
        return base.judged(Verdict.ERROR,
                     detail=f"cannot judge growth per request: no requests served in {data.names}.")
    result = trend(x, data.v)
    per_1k = result.slope * 1000.0
    verdict = _verdict(per_1k, limit, result.p_value, threshold.alpha)
    evidence = _base_evidence(data, result, scenario.sample_interval)
    evidence.update(slope_per_1k_requests=per_1k, requests_served=served)
    if ref.category == "target":
        evidence.update(what_grew(run, ref.name, "baseline", "peak", threshold.ignore_tasks))
    detail = (
        f"{key} of {ref.name} changed {num(per_1k)} {unit} over "
        f"{', '.join(data.names)}{data.note} "
        f"({num(served)} requests served): "
        f"{_reason(per_1k, limit, result.p_value, threshold.alpha, unit)}."
    )
    return _judged(base, verdict, per_1k, detail, data, evidence)
