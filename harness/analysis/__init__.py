"""Analysis: a run's series, latency and events turned into checks with evidence.

``analyze(run, scenario)`` is the one entry point (the orchestrator calls it at the end of
a run, ``harness report`` on an old run folder). docs/thresholds.md documents every check.
"""

from harness.analysis._analyze import analyze
from harness.analysis._hdr import MergedHistogram
from harness.analysis._latency import merge_by_phase, new_histogram
from harness.analysis._names import label as name_label
from harness.analysis._names import matches as name_matches
from harness.analysis._names import name_checks
from harness.analysis._phases import Span, spans
from harness.analysis._plan import Planned, plan_checks, unjudgeable
from harness.analysis._stats import (
    MIN_TREND_POINTS,
    hamed_rao_factor,
    mann_kendall,
    trend,
    window_medians,
    window_size,
)

__all__ = [
    "MIN_TREND_POINTS",
    "MergedHistogram",
    "Planned",
    "Span",
    "analyze",
    "hamed_rao_factor",
    "mann_kendall",
    "merge_by_phase",
    "name_checks",
    "name_label",
    "name_matches",
    "new_histogram",
    "plan_checks",
    "spans",
    "trend",
    "unjudgeable",
    "window_medians",
    "window_size",
]
