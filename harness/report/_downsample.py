"""Downsampling for drawing only: a min/max envelope per pixel bucket keeps every peak.

Verdicts never see these arrays; they are computed from the full series by the analysis.
"""

from __future__ import annotations

import numpy as np

# About one bucket per horizontal pixel of a chart drawn at 1600 px.
DEFAULT_BUCKETS = 1600


def envelope(
    t: np.ndarray, v: np.ndarray, buckets: int = DEFAULT_BUCKETS
) -> tuple[np.ndarray, np.ndarray]:
    """``(t, v)`` reduced to at most ``2 * buckets`` points: each bucket's min and max.

    Buckets are equal stretches of time, so gaps in sampling stay gaps. Within a bucket the
    min and the max are emitted in the order they occurred, so the drawn line passes through
    every extreme; NaNs are ignored (a bucket of only NaNs becomes one NaN: a break).
    """
    n = len(t)
    if n <= 2 * buckets or n < 3:
        return t, v
    t0, t1 = float(t[0]), float(t[-1])
    span = t1 - t0
    if not span > 0:
        return t[:2 * buckets], v[:2 * buckets]
    idx = np.minimum(((t - t0) / span * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    # argmin/argmax per bucket, NaN-safe: replace NaN by +/-inf for the search.
    lo_vals = np.where(np.isnan(v), np.inf, v)
    hi_vals = np.where(np.isnan(v), -np.inf, v)
    mins = np.minimum.reduceat(lo_vals, starts)
    maxs = np.maximum.reduceat(hi_vals, starts)
    ends = np.r_[starts[1:], n]
    counts = ends - starts
    bucket_of = np.repeat(np.arange(len(starts)), counts)
    # position of the first min / max in each bucket
    is_min = lo_vals == mins[bucket_of]
    is_max = hi_vals == maxs[bucket_of]
    pos = np.arange(n)
    big = n + 1
    first_min = np.minimum.reduceat(np.where(is_min, pos, big), starts)
    first_max = np.minimum.reduceat(np.where(is_max, pos, big), starts)
    a = np.minimum(first_min, first_max)
    b = np.maximum(first_min, first_max)
    out_idx = np.empty(2 * len(starts), dtype=np.int64)
    out_idx[0::2] = a
    out_idx[1::2] = b
    out_t = t[out_idx].astype(float)
    out_v = v[out_idx].astype(float)
    empty = np.isinf(mins) & (mins > 0)  # a bucket of only NaNs
    if empty.any():
        out_v[np.repeat(empty, 2)] = np.nan
    return out_t, out_v
