"""Reading the analysis' evidence defensively: draw what is there, never crash on the rest.

The analysis (harness.analysis) writes ``Check.evidence`` as free-form JSON. The report
understands these keys when present:

- ``baseline``: a number, ``[lo, hi]``, or ``{"mean"/"median"/"value", "lo", "hi"}``;
  ``baseline_lo``/``baseline_hi`` or ``band`` too; ``limit``/``recovery_limit``: the upper edge.
- ``slope_per_s`` (or ``slope_per_min``), ``intercept`` (at t = 0 s, or at
  ``intercept_t``), ``window`` ``[start, end]`` (else ``Check.window``): the fitted line.
- lists of ``{"name", "where", "count"/"delta"/"before"/"after"}``: tasks or stacks that grew.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.runfolder import Series
from harness.verdicts import Check


@dataclass(frozen=True)
class Line:
    """A fitted straight line to draw between two times."""

    t0: float
    t1: float
    v0: float
    v1: float
    label: str


def number(value: Any) -> float | None:
    """A finite float, or None."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def pair(value: Any) -> tuple[float, float] | None:
    """``[a, b]`` as two floats, or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        a, b = number(value[0]), number(value[1])
        if a is not None and b is not None:
            return a, b
    return None


def baseline_band(check: Check) -> tuple[float, float] | None:
    """The warmup baseline as ``(lo, hi)`` from the check's evidence, if it has one."""
    ev = check.evidence
    for key in ("band", "baseline_band"):
        band = pair(ev.get(key))
        if band:
            return min(band), max(band)
    base = ev.get("baseline")
    band = pair(base)
    if band:
        return min(band), max(band)
    centre: float | None = None
    lo = number(ev.get("baseline_lo"))
    hi = number(ev.get("baseline_hi"))
    if isinstance(base, dict):
        for key in ("mean", "median", "value", "level"):
            centre = number(base.get(key))
            if centre is not None:
                break
        lo = number(base.get("lo", base.get("min"))) if lo is None else lo
        hi = number(base.get("hi", base.get("max"))) if hi is None else hi
    else:
        centre = number(base)
    limit = number(ev.get("limit", ev.get("recovery_limit")))
    if lo is not None and hi is not None:
        return min(lo, hi), max(lo, hi)
    if centre is None:
        return None
    upper = hi if hi is not None else limit
    if upper is None and check.kind == "recovery":
        upper = number(check.threshold)
    if upper is None or upper < centre:
        upper = centre
    lower = lo if lo is not None else centre - (upper - centre)
    return lower, upper


def slope_line(check: Check, series: Series | None) -> Line | None:
    """The fitted growth line of a growth check, when its evidence carries a slope."""
    ev = check.evidence
    slope = number(ev.get("slope_per_s"))
    if slope is None:
        per_min = number(ev.get("slope_per_min"))
        slope = per_min / 60.0 if per_min is not None else None
    if slope is None:
        return None
    window = pair(ev.get("window")) or check.window
    if window is None and series is not None and len(series.t):
        window = (float(series.t[0]), float(series.t[-1]))
    if window is None:
        return None
    t0, t1 = window
    intercept = number(ev.get("intercept"))
    if intercept is not None:
        at = number(ev.get("intercept_t")) or 0.0
        v0 = intercept + slope * (t0 - at)
    elif series is not None and len(series.t):
        # Theil-Sen style intercept from the data in the window: median of v - slope * t.
        mask = (series.t >= t0) & (series.t <= t1)
        if not mask.any():
            return None
        v0 = float(np.nanmedian(series.v[mask] - slope * (series.t[mask] - t0)))
    else:
        return None
    per_min = slope * 60.0
    return Line(t0, t1, v0, v0 + slope * (t1 - t0), f"fit {per_min:+.3g}/min")


def threshold_level(check: Check) -> float | None:
    """A horizontal limit in the metric's own unit (level and latency checks only)."""
    if check.kind in ("level", "latency", "error_ratio"):
        return number(check.threshold)
    return None


def grew_tables(check: Check) -> list[tuple[str, list[dict[str, Any]]]]:
    """Evidence lists of task/stack groups (``name``/``where`` + a count), by key."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in check.evidence.items():
        if (
            isinstance(value, list)
            and value
            and all(isinstance(row, dict) for row in value)
            and any(k in value[0] for k in ("count", "delta", "after", "grew", "n"))
        ):
            out.append((key, value))
    return out
