"""Latency and error-ratio checks, per phase.

Percentiles come from the phase's 1 s HDR histograms merged into one (3 significant
digits, <= 0.1% error), never from averaging per-window percentiles. The histogram file is
read once for all phases: a 24 h run has 86,400 windows, summed as numpy counts (_hdr.py).
"""

from __future__ import annotations

import bisect

import numpy as np

from harness.analysis._common import finite, num
from harness.analysis._hdr import MergedHistogram
from harness.analysis._phases import Span, covered, load_phases, trusted_until
from harness.runfolder import RunRecord
from harness.scenario import LATENCY_KEY, Scenario, Threshold
from harness.verdicts import Check, CheckHead, Verdict

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000
HDR_DIGITS = 3


def new_histogram() -> MergedHistogram:
    """An empty merge target with the recorder's layout (microseconds)."""
    return MergedHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


WINDOW_S = 1.0  # latency windows are 1 s long, starting at t (see harness/load)


def merge_by_phase(
    run: RunRecord, chosen: list[Span], not_before: float = 0.0
) -> tuple[dict[str, MergedHistogram], int]:
    """One merged histogram per span (windows wholly inside it), in a single pass.

    Returns the histograms and the number of windows that could not be decoded.
    """
    merged = {span.name: new_histogram() for span in chosen}
    if not chosen:
        return merged, 0
    ordered = sorted(chosen, key=lambda s: s.start)
    starts = [s.start for s in ordered]
    lo, hi = max(starts[0], not_before), max(s.end for s in ordered)
    bad = 0
    for t, encoded in run.histograms(lo, hi):
        i = bisect.bisect_right(starts, t) - 1
        # only windows wholly inside the phase: one that straddles a phase edge would
        # blend the next phase's faults into this phase's percentiles
        if i < 0 or t + WINDOW_S > ordered[i].end or t < not_before:
            continue
        try:
            merged[ordered[i].name].decode_and_add(encoded)
        except Exception:  # a torn or foreign line: counted and reported, never fatal
            bad += 1
    return merged, bad


def never_ran(run: RunRecord, head: CheckHead, name: str) -> Check:
    """A phase with no data: inconclusive after a tool failure (not the target's doing),
    an error otherwise."""
    limit = trusted_until(run)
    if limit is not None:
        return head.judged(Verdict.INCONCLUSIVE,
                           detail=f"phase {name!r} not judged: a tool failed at "
                                  f"t={num(limit)}s, before it (see the run's reason).")
    return head.judged(Verdict.ERROR, detail=f"phase {name!r} never ran.")


def _tool_cut(head: CheckHead, name: str, span: Span) -> Check:
    return head.judged(Verdict.INCONCLUSIVE,
                       detail=f"phase {name!r} not judged: a tool failed at t={num(span.end)}s, "
                              "and no request of it was recorded before that.")


def percentile_of(key: str) -> float:
    """``p99_ms`` -> 99.0, ``p99.9_ms`` -> 99.9."""
    match = LATENCY_KEY.match(key)
    if match is None:
        raise ValueError(f"not a latency key: {key!r}")
    return float(match.group(1))


def _phases_for(threshold: Threshold, scenario: Scenario) -> list[str]:
    return threshold.phases or load_phases(scenario)


def _window_mask(run: RunRecord, span: Span, not_before: float) -> np.ndarray:
    t = run.latency.t
    return np.asarray((t >= max(span.start, not_before)) & (t + WINDOW_S <= span.end))


def latency_checks(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str, threshold: Threshold
) -> list[Check]:
    """``<pNN_ms>[<phase>]``, one check per phase."""
    if threshold.max is None:
        return []
    pct = percentile_of(key)
    names = _phases_for(threshold, scenario)
    ran, missing = covered(names, spans)
    hists, bad = merge_by_phase(run, ran, threshold.ignore_first)
    out: list[Check] = []
    for name in names:
        head = CheckHead(name=f"{key}[{name}]", metric=key, kind="latency",
                         threshold=threshold.max, unit="ms", phases=[name])
        if name in missing:
            out.append(never_ran(run, head, name))
            continue
        span = spans[name]
        hist = hists[name]
        count = int(hist.get_total_count())
        mask = _window_mask(run, span, threshold.ignore_first)
        head = head.but(window=(max(span.start, threshold.ignore_first), span.end))
        if count == 0 and span.tool_cut:
            out.append(_tool_cut(head, name, span))
            continue
        if count == 0:
            out.append(_fallback(head, run, key, pct, name, mask, threshold.max))
            continue
        observed = hist.get_value_at_percentile(pct) / 1000.0
        verdict = Verdict.PASS if observed <= threshold.max else Verdict.FAIL
        word = "within" if verdict == Verdict.PASS else "over"
        out.append(head.judged(
            verdict, observed=observed,
            detail=(f"P{num(pct)} in {name!r} was {num(observed)} ms over {count} requests "
                    f"({word} the limit {num(threshold.max)} ms)."
                    + (" Phase cut short." if span.cut_short else "")),
            evidence={
                "requests": count, "source": "latency.hdr (merged)",
                "max_ms": hist.get_max_value() / 1000.0,
                "p50_ms": hist.get_value_at_percentile(50) / 1000.0,
                "mean_ms": hist.get_mean_value() / 1000.0,
                "windows": int(mask.sum()), "undecodable_windows": bad,
            },
        ))
    return out


def _fallback(
    head: CheckHead, run: RunRecord, key: str, pct: float, name: str, mask: np.ndarray,
    limit: float,
) -> Check:
    """No HDR data: the worst per-window value of latency.csv (an upper bound), or ERROR."""
    requests = float(np.nansum(run.latency.requests[mask])) if mask.any() else 0.0
    column = {"p50_ms": run.latency.p50_ms, "p95_ms": run.latency.p95_ms,
              "p99_ms": run.latency.p99_ms}.get(key)
    if requests <= 0:
        return head.judged(Verdict.ERROR, detail=f"no requests recorded in phase {name!r}.")
    if column is None or not np.isfinite(column[mask]).any():
        return head.judged(
            Verdict.ERROR,
            detail=f"no HDR histograms for phase {name!r} ({num(requests)} requests in "
                   "latency.csv, which has no column for this percentile).")
    observed = float(np.nanmax(column[mask]))
    return head.judged(
        Verdict.PASS if observed <= limit else Verdict.FAIL, observed=observed,
        detail=(f"P{num(pct)} in {name!r}: worst 1 s window {num(observed)} ms (no HDR "
                f"histograms; an upper bound) vs the limit {num(limit)} ms."),
        evidence={"requests": requests, "source": "latency.csv (max of windows)"},
    )


def error_ratio_checks(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], threshold: Threshold
) -> list[Check]:
    """``error_ratio[<phase>]``: failures / requests over each phase."""
    if threshold.max is None:
        return []
    names = _phases_for(threshold, scenario)
    _, missing = covered(names, spans)
    out: list[Check] = []
    for name in names:
        head = CheckHead(name=f"error_ratio[{name}]", metric="error_ratio", kind="error_ratio",
                         threshold=threshold.max, unit="ratio", phases=[name])
        if name in missing:
            out.append(never_ran(run, head, name))
            continue
        span = spans[name]
        mask = _window_mask(run, span, threshold.ignore_first)
        requests = float(np.nansum(run.latency.requests[mask]))
        failures = float(np.nansum(run.latency.failures[mask]))
        head = head.but(window=(max(span.start, threshold.ignore_first), span.end))
        if requests <= 0:
            out.append(_tool_cut(head, name, span) if span.tool_cut else head.judged(
                Verdict.ERROR, detail=f"no requests recorded in phase {name!r}."))
            continue
        ratio = failures / requests
        verdict = Verdict.PASS if ratio <= threshold.max else Verdict.FAIL
        word = "within" if verdict == Verdict.PASS else "over"
        out.append(head.judged(
            verdict, observed=finite(ratio),
            detail=(f"{num(failures)} of {num(requests)} requests failed in {name!r} "
                    f"({ratio:.2%}, {word} the limit {threshold.max:.2%})."),
            evidence={"requests": requests, "failures": failures, "windows": int(mask.sum())},
        ))
    return out
