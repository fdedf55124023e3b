"""The numpy merge of HDR windows answers exactly like hdrh's own merge."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis import MergedHistogram, new_histogram
from harness.load import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, Window

PERCENTILES = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)


def _windows(seed: int, sizes: list[int], outlier_us: int | None = None) -> list[str]:
    """Windows recorded and encoded the way harness/load writes latency.hdr."""
    rng = np.random.default_rng(seed)
    encoded = []
    for i, size in enumerate(sizes):
        window = Window()
        for ms in rng.lognormal(3.0, 1.2, size):
            window.record(float(ms), failed=False)
        if outlier_us is not None and i == len(sizes) // 2:
            window.record(outlier_us / 1000.0, failed=True)
        if window.hist.get_total_count():
            encoded.append(window.hist.encode().decode("ascii"))
    return encoded


def _merge_both(encoded: list[str]) -> tuple[HdrHistogram, MergedHistogram]:
    reference = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    fast = new_histogram()
    for enc in encoded:
        reference.decode_and_add(enc)
        fast.decode_and_add(enc)
    return reference, fast


def _assert_same(reference: HdrHistogram, fast: MergedHistogram) -> None:
    assert fast.get_total_count() == reference.get_total_count()
    for pct in PERCENTILES:
        assert fast.get_value_at_percentile(pct) == reference.get_value_at_percentile(pct), pct
    assert fast.get_max_value() == reference.get_max_value()
    assert fast.get_mean_value() == reference.get_mean_value()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_merge_equals_hdrh_merge(seed: int) -> None:
    """Random windows, some empty, one with a one-hour outlier: count, percentiles, max agree."""
    encoded = _windows(seed, [200, 0, 1, 500, 0, 3000, 50], outlier_us=HIGHEST_US)
    reference, fast = _merge_both(encoded)
    assert reference.get_total_count() == 3752
    _assert_same(reference, fast)


def test_fast_merge_of_a_window_with_another_range_equals_hdrh() -> None:
    """A window recorded with a narrower highest value (the synthetic runs') merges the same."""
    rng = np.random.default_rng(5)
    narrow = HdrHistogram(1, 60_000_000, 3)
    for v in rng.lognormal(9.0, 1.0, 400).astype(int) + 1:
        narrow.record_value(int(v))
    encoded = [narrow.encode().decode("ascii"), *_windows(6, [100, 100])]
    _assert_same(*_merge_both(encoded))


def test_fast_merge_of_a_window_with_another_layout_equals_hdrh() -> None:
    """A window with other significant digits goes through hdrh's own add, same answer."""
    coarse = HdrHistogram(1, HIGHEST_US, 2)
    for v in (3, 150, 7_777, 123_456, 9_000_000):
        coarse.record_value(v, 3)
    encoded = [*_windows(7, [300]), coarse.encode().decode("ascii")]
    _assert_same(*_merge_both(encoded))


def test_nothing_merged_answers_like_an_empty_hdrh_histogram() -> None:
    """No windows: zero count, zero percentiles, zero max and mean, as hdrh answers."""
    _assert_same(HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS), new_histogram())


def test_torn_or_foreign_window_raises_and_leaves_the_merge_unchanged() -> None:
    """A truncated line or a foreign string raises (the caller counts it bad); counts stay."""
    good = _windows(8, [100])[0]
    fast = new_histogram()
    fast.decode_and_add(good)
    before = fast.counts.copy()
    for broken in (good[: len(good) // 2], "not-a-histogram", base64.b64encode(b"x" * 40)):
        with pytest.raises(Exception):  # noqa: B017 - hdrh raises several kinds
            fast.decode_and_add(broken)
    assert np.array_equal(fast.counts, before)


def test_window_beyond_the_target_range_is_refused_like_hdrh() -> None:
    """A window whose max is past the target's highest value raises, as hdrh's add does."""
    wide = HdrHistogram(1, 100 * HIGHEST_US, 3)
    wide.record_value(50 * HIGHEST_US)
    enc = wide.encode().decode("ascii")
    with pytest.raises(IndexError):
        HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).decode_and_add(enc)
    with pytest.raises(IndexError):
        new_histogram().decode_and_add(enc)
