"""The drawing envelope: bounded size, every peak kept."""

from __future__ import annotations

import numpy as np

from harness.report import envelope


def test_short_series_untouched():
    """Series shorter than two points per bucket are drawn as they are."""
    t = np.arange(100.0)
    v = np.sin(t)
    out_t, out_v = envelope(t, v, buckets=100)
    assert out_t is t and out_v is v


def test_long_series_bounded_and_keeps_extremes():
    """86,400 points become at most 2 per bucket, and the global min and max survive."""
    rng = np.random.default_rng(0)
    t = np.arange(86_400.0)
    v = rng.normal(size=t.size)
    v[12_345] = 50.0
    v[54_321] = -50.0
    out_t, out_v = envelope(t, v, buckets=1000)
    assert len(out_t) <= 2000
    assert out_v.max() == 50.0 and out_v.min() == -50.0
    assert 12_345.0 in out_t and 54_321.0 in out_t
    assert np.all(np.diff(out_t) >= 0)


def test_nan_buckets_become_breaks():
    """NaNs are ignored inside a bucket; a bucket of only NaNs is a gap, not a zero."""
    t = np.arange(10_000.0)
    v = np.ones_like(t)
    v[:5000] = np.nan
    v[7000] = np.nan
    _, out_v = envelope(t, v, buckets=100)
    assert np.isnan(out_v[: 2 * 50]).all()
    assert np.nanmax(out_v) == 1.0 and not np.isnan(out_v[-1])
