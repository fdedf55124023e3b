"""Latency and error-ratio checks per request name (``names:`` on a load-side threshold).

A pattern is a shell glob (``fnmatch``, case-sensitive) matched against ``"TYPE name"``
(``GET /api/users``) and against the name alone (``/api/users``): ``/api/*`` and
``GET /api/*`` both read naturally. Every request name (``type``, ``name``) a pattern
matches gets its own check per phase, named ``<key>[<phase>][<TYPE name>]``. A pattern that
matches no name the run recorded gets one INCONCLUSIVE check per phase (a typo in a pattern,
or an endpoint the load never reached, must never read as a pass).

Data: ``latency-names.hdr`` (percentiles from merged HDR windows wholly inside the phase,
as for the total) and ``latency-names.csv`` (requests and failures).
"""

from __future__ import annotations

import bisect
from fnmatch import fnmatchcase

import numpy as np

from harness.analysis._common import finite, num
from harness.analysis._hdr import MergedHistogram
from harness.analysis._latency import (
    WINDOW_S,
    _phases_for,
    _tool_cut,
    never_ran,
    new_histogram,
    percentile_of,
)
from harness.analysis._phases import Span, covered
from harness.runfolder import LatencyTable, RunRecord
from harness.scenario import LATENCY_KEY, Scenario, Threshold
from harness.verdicts import Check, CheckHead, CheckKind, Verdict

NameKey = tuple[str, str]
SHOWN_NAMES = 10  # names listed in a "matches nothing" detail


def label(key: NameKey) -> str:
    """``GET /api/x``; the name alone when the type is empty (the ``(other)`` bucket)."""
    return f"{key[0]} {key[1]}".strip()


def matches(pattern: str, key: NameKey) -> bool:
    return fnmatchcase(label(key), pattern) or fnmatchcase(key[1], pattern)


def matched(patterns: list[str], keys: list[NameKey]) -> tuple[list[NameKey], list[str]]:
    """(the keys some pattern matches, in first-seen order; the patterns matching none)."""
    chosen = [k for k in keys if any(matches(p, k) for p in patterns)]
    empty = [p for p in patterns if not any(matches(p, k) for k in keys)]
    return chosen, empty


def merge_names_by_phase(
    run: RunRecord, chosen: list[Span], keys: set[NameKey], not_before: float = 0.0
) -> tuple[dict[tuple[str, NameKey], MergedHistogram], int]:
    """One merged histogram per (phase, name) from windows wholly inside the phase."""
    merged: dict[tuple[str, NameKey], MergedHistogram] = {}
    if not chosen or not keys:
        return merged, 0
    ordered = sorted(chosen, key=lambda s: s.start)
    starts = [s.start for s in ordered]
    lo, hi = max(starts[0], not_before), max(s.end for s in ordered)
    bad = 0
    for t, key, encoded in run.name_histograms(lo, hi):
        if key not in keys:
            continue
        i = bisect.bisect_right(starts, t) - 1
        if i < 0 or t + WINDOW_S > ordered[i].end or t < not_before:
            continue
        hist = merged.get((ordered[i].name, key))
        if hist is None:
            hist = merged[(ordered[i].name, key)] = new_histogram()
        try:
            hist.decode_and_add(encoded)
        except Exception:  # a torn or foreign line: counted and reported, never fatal
            bad += 1
    return merged, bad


def _mask(table: LatencyTable, span: Span, not_before: float) -> np.ndarray:
    t = table.t
    return np.asarray((t >= max(span.start, not_before)) & (t + WINDOW_S <= span.end))


def _no_match(head: CheckHead, pattern: str, keys: list[NameKey]) -> Check:
    seen = ", ".join(repr(label(k)) for k in keys[:SHOWN_NAMES])
    more = f" and {len(keys) - SHOWN_NAMES} more" if len(keys) > SHOWN_NAMES else ""
    return head.judged(
        Verdict.INCONCLUSIVE,
        detail=(f"no request name in this run matches {pattern!r}, so nothing was judged; "
                + (f"names recorded: {seen}{more}." if keys else
                   "the run recorded no request names (latency-names.csv).")),
        evidence={"pattern": pattern, "names_seen": len(keys)})


def name_checks(
    run: RunRecord, scenario: Scenario, spans: dict[str, Span], key: str, threshold: Threshold
) -> list[Check]:
    """``<key>[<phase>][<TYPE name>]`` for every name the threshold's patterns match."""
    if threshold.max is None or not threshold.names:
        return []
    is_latency = bool(LATENCY_KEY.match(key))
    tables = run.name_latency()
    keys = list(tables)
    chosen, empty = matched(threshold.names, keys)
    phases = _phases_for(threshold, scenario)
    ran, missing = covered(phases, spans)
    hists: dict[tuple[str, NameKey], MergedHistogram] = {}
    bad = 0
    if is_latency:
        hists, bad = merge_names_by_phase(run, ran, set(chosen), threshold.ignore_first)
    kind: CheckKind = "latency" if is_latency else "error_ratio"
    unit = "ms" if is_latency else "ratio"
    out: list[Check] = []
    for phase in phases:
        for pattern in empty:
            out.append(_no_match(
                CheckHead(name=f"{key}[{phase}][{pattern}]", metric=key, kind=kind,
                          threshold=threshold.max, unit=unit, phases=[phase]),
                pattern, keys))
        for name_key in chosen:
            head = CheckHead(name=f"{key}[{phase}][{label(name_key)}]", metric=key, kind=kind,
                             threshold=threshold.max, unit=unit, phases=[phase])
            if phase in missing:
                out.append(never_ran(run, head, phase))
                continue
            span = spans[phase]
            head = head.but(window=(max(span.start, threshold.ignore_first), span.end))
            table = tables[name_key]
            mask = _mask(table, span, threshold.ignore_first)
            requests = float(np.nansum(table.requests[mask]))
            if requests <= 0:
                out.append(_tool_cut(head, phase, span) if span.tool_cut else head.judged(
                    Verdict.ERROR,
                    detail=f"no {label(name_key)!r} requests recorded in phase {phase!r}.",
                    evidence={"request": label(name_key)}))
                continue
            if is_latency:
                out.append(_latency(head, key, phase, name_key, span, threshold,
                                    hists.get((phase, name_key)), requests, bad))
            else:
                out.append(_errors(head, phase, name_key, threshold,
                                   float(np.nansum(table.failures[mask])), requests))
    return out


def _latency(
    head: CheckHead, key: str, phase: str, name_key: NameKey, span: Span, th: Threshold,
    hist: MergedHistogram | None, requests: float, bad: int,
) -> Check:
    assert th.max is not None
    pct = percentile_of(key)
    what = label(name_key)
    if hist is None or not hist.get_total_count():
        return head.judged(
            Verdict.ERROR,
            detail=(f"{num(requests)} {what!r} requests in phase {phase!r}, but no HDR "
                    "histogram of them (latency-names.hdr): not judged."),
            evidence={"request": what, "requests": requests, "undecodable_windows": bad})
    observed = hist.get_value_at_percentile(pct) / 1000.0
    verdict = Verdict.PASS if observed <= th.max else Verdict.FAIL
    word = "within" if verdict == Verdict.PASS else "over"
    return head.judged(
        verdict, observed=observed,
        detail=(f"P{num(pct)} of {what!r} in {phase!r} was {num(observed)} ms over "
                f"{int(hist.get_total_count())} requests ({word} the limit {num(th.max)} ms)."
                + (" Phase cut short." if span.cut_short else "")),
        evidence={
            "request": what, "requests": int(hist.get_total_count()),
            "source": "latency-names.hdr (merged)",
            "max_ms": hist.get_max_value() / 1000.0,
            "p50_ms": hist.get_value_at_percentile(50) / 1000.0,
            "mean_ms": hist.get_mean_value() / 1000.0, "undecodable_windows": bad,
        })


def _errors(
    head: CheckHead, phase: str, name_key: NameKey, th: Threshold, failures: float,
    requests: float,
) -> Check:
    assert th.max is not None
    ratio = failures / requests
    verdict = Verdict.PASS if ratio <= th.max else Verdict.FAIL
    word = "within" if verdict == Verdict.PASS else "over"
    what = label(name_key)
    return head.judged(
        verdict, observed=finite(ratio),
        detail=(f"{num(failures)} of {num(requests)} {what!r} requests failed in {phase!r} "
                f"({ratio:.2%}, {word} the limit {th.max:.2%})."),
        evidence={"request": what, "requests": requests, "failures": failures})
