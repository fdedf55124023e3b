"""Trend statistics: windowed medians, Theil-Sen slope, Mann-Kendall with Hamed-Rao correction.

Resource series are autocorrelated (a task count at second t is mostly the count at t-1), so
the plain Mann-Kendall test, which assumes independent points, calls trends everywhere. Two
defences, used together (docs/thresholds.md has the numbers):

* long series are reduced to ~40-60 window medians before testing: medians of windows longer
  than the correlation time are close to independent, robust to spikes and GC sawtooth, and
  keep the O(n^2) pairwise estimators cheap (86,400 raw points never reach them);
* the Mann-Kendall variance is inflated by the Hamed-Rao (1998) factor computed from the
  significant autocorrelations of the ranks of the Sen-detrended series.

The test is one-sided (growth only) and run once over a fixed horizon (the judged phases),
never repeatedly while data arrives: that keeps the false-alarm rate at ``alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

RAW_MAX_POINTS = 120  # up to this many points the test runs on raw samples
TARGET_WINDOWS = 60  # longer series: windows of ceil(n / 60) samples (40..60 windows)
MIN_TREND_POINTS = 6  # below this even a monotone climb is not significant at 0.01
ACF_ALPHA = 0.05  # lags whose rank autocorrelation is significant at 5% enter the correction


@dataclass(frozen=True)
class Trend:
    """The result of one trend test over one fixed horizon."""

    slope: float  # Theil-Sen slope, value units per x unit
    p_value: float  # one-sided (increase) Hamed-Rao Mann-Kendall p-value
    s: float  # Mann-Kendall S statistic
    z: float  # its normal score with the corrected variance
    correction: float  # Hamed-Rao variance factor n/n* (>= 1)
    n: int  # points tested (windows when windowed)
    window: int  # raw samples per window (1: raw)


def window_size(n: int) -> int:
    """Samples per window: 1 (raw) up to RAW_MAX_POINTS, else ~TARGET_WINDOWS windows."""
    return 1 if n <= RAW_MAX_POINTS else math.ceil(n / TARGET_WINDOWS)


def window_medians(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Medians of consecutive windows of ``size`` points; a short tail window is dropped
    unless it holds at least half a window."""
    if size <= 1:
        return x, y
    full = len(x) // size
    tail = len(x) - full * size
    xs = [np.median(x[: full * size].reshape(full, size), axis=1)]
    ys = [np.median(y[: full * size].reshape(full, size), axis=1)]
    if tail * 2 >= size:
        xs.append(np.array([np.median(x[full * size :])]))
        ys.append(np.array([np.median(y[full * size :])]))
    return np.concatenate(xs), np.concatenate(ys)


def _s_and_variance(y: np.ndarray) -> tuple[float, float]:
    n = len(y)
    i, j = np.triu_indices(n, 1)
    s = float(np.sign(y[j] - y[i]).sum())
    _, counts = np.unique(y, return_counts=True)
    ties = float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    return s, var


def _z(s: float, var: float) -> float:
    if var <= 0 or s == 0:
        return 0.0
    return (s - math.copysign(1.0, s)) / math.sqrt(var)


def mann_kendall(y: np.ndarray) -> tuple[float, float]:
    """Plain Mann-Kendall (assumes independence): (S, one-sided p-value for an increase)."""
    s, var = _s_and_variance(np.asarray(y, dtype=float))
    return s, float(stats.norm.sf(_z(s, var)))


def hamed_rao_factor(y: np.ndarray, slope_per_index: float) -> float:
    """Hamed-Rao variance factor n/n* from the significant rank autocorrelations (>= 1)."""
    n = len(y)
    if n < 3:
        return 1.0
    ranks = stats.rankdata(y - slope_per_index * np.arange(n))
    dev = ranks - ranks.mean()
    denom = float(np.dot(dev, dev))
    if denom == 0:
        return 1.0
    lags = np.arange(1, n)
    full = np.correlate(dev, dev, mode="full")[n:] / denom  # lags 1..n-1
    limit = stats.norm.ppf(1 - ACF_ALPHA / 2) / math.sqrt(n)
    r = np.where(np.abs(full) > limit, full, 0.0)
    weights = (n - lags) * (n - lags - 1) * (n - lags - 2)
    factor = 1.0 + 2.0 / (n * (n - 1) * (n - 2)) * float(np.dot(weights, r))
    return max(factor, 1.0)


def trend(x: np.ndarray, y: np.ndarray, window: int | None = None) -> Trend:
    """Theil-Sen slope of y over x and the Hamed-Rao Mann-Kendall p-value of an increase.

    ``x`` must be non-decreasing (time, or cumulative requests). Windows are chosen with
    :func:`window_size` unless given.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    size = window_size(len(x)) if window is None else window
    xw, yw = window_medians(x, y, size)
    n = len(xw)
    if n < 2 or float(np.ptp(xw)) == 0.0:
        return Trend(0.0, 1.0, 0.0, 0.0, 1.0, n, size)
    slope = float(stats.theilslopes(yw, xw).slope)
    # the detrending slope is per index (the windows are evenly spaced in time)
    i, j = np.triu_indices(n, 1)
    per_index = float(np.median((yw[j] - yw[i]) / (j - i)))
    s, var = _s_and_variance(yw)
    factor = hamed_rao_factor(yw, per_index)
    z = _z(s, var * factor)
    return Trend(slope, float(stats.norm.sf(z)), s, z, factor, n, size)
