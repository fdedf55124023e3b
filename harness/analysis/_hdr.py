"""Merging many encoded HDR windows fast: numpy counts, hdrh's exact semantics.

hdrh's ``HdrHistogram.decode_and_add`` walks every bucket in Python whenever the window's
range differs from the merge target's (``add`` falls back to ``record_value`` per bucket):
about 10 ms a window, five minutes for a 24 h phase. Here each window is decoded by hdrh's
codec (base64, cookies, zlib, the C varint decoder) into a counts array, and the arrays are
summed into one int64 array per phase. Percentiles, max and mean are then read from the
counts with the same rules as hdrh's ``get_value_at_percentile``, ``get_max_value`` and
``get_mean_value``, so the numbers are identical to merging with hdrh itself
(tests/unit/test_hdr_merge.py pins that).

Windows whose layout differs from the target's (another lowest value or significant
digits; the harness never writes those) go through hdrh's own ``add``: slow, but exact.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hdrh.codec import HdrHistogramEncoder
from hdrh.histogram import HdrHistogram

from harness._hdr import value_at_percentile


@lru_cache(maxsize=16)
def _layout(lowest: int, highest: int, digits: int) -> HdrHistogram:
    """An empty histogram with these parameters: its layout, and hdrh's checks of them."""
    return HdrHistogram(lowest, highest, digits)


class MergedHistogram:
    """The sum of many encoded HDR windows with one layout, answering like an HdrHistogram.

    Only the read side the analysis uses: total count, value at percentile, max and mean.
    """

    def __init__(self, lowest: int, highest: int, digits: int) -> None:
        self._layout = _layout(lowest, highest, digits)
        self.counts = np.zeros(self._layout.counts_len, dtype=np.int64)
        self._cumulative: np.ndarray | None = None

    def _same_layout(self, other: HdrHistogram) -> bool:
        mine = self._layout
        return bool(other.unit_magnitude == mine.unit_magnitude
                    and other.sub_bucket_half_count_magnitude
                    == mine.sub_bucket_half_count_magnitude)

    def decode_and_add(self, encoded: str | bytes) -> None:
        """Add one encoded window; raises (like hdrh) on a torn, foreign or too-wide one."""
        payload = HdrHistogramEncoder.decode(encoded)
        header = payload.payload
        window = _layout(header.lowest_trackable_value, header.highest_trackable_value,
                         header.significant_figures)
        if not self._same_layout(window):
            self._add_foreign(encoded)
            return
        # the C decoder raises IndexError when the stream overruns the window's own array
        found = payload.init_counts(window.counts_len)
        if not found["total"]:
            return
        last = int(found["max_nonzero_index"])
        if last >= len(self.counts):
            # hdrh's add refuses a window whose max is over the target's highest value
            raise IndexError(f"window max index {last} is beyond {len(self.counts)} buckets")
        first = int(found["min_nonzero_index"])
        counts = np.ctypeslib.as_array(payload.get_counts())
        self.counts[first:last + 1] += counts[first:last + 1].astype(np.int64)
        self._cumulative = None

    def _add_foreign(self, encoded: str | bytes) -> None:
        """hdrh's own per-bucket re-recording, for a window with another bucket layout."""
        mine = self._layout
        scratch = HdrHistogram(mine.lowest_trackable_value, mine.highest_trackable_value,
                               mine.significant_figures)
        scratch.decode_and_add(encoded)
        self.counts += np.ctypeslib.as_array(scratch.counts).astype(np.int64)
        self._cumulative = None

    def _cumsum(self) -> np.ndarray:
        if self._cumulative is None:
            self._cumulative = np.cumsum(self.counts)
        return self._cumulative

    def get_total_count(self) -> int:
        """Number of recorded values."""
        cumulative = self._cumsum()
        return int(cumulative[-1]) if len(cumulative) else 0

    def get_value_at_percentile(self, percentile: float) -> int:
        """hdrh's rule: the bucket where the running count first reaches
        ``max(1, int(min(p, 100) * total / 100 + 0.5))``; its highest equivalent value
        (its lowest for p = 0); 0 when empty."""
        return value_at_percentile(self._layout, self._cumsum(), percentile)

    def get_max_value(self) -> int:
        """Highest equivalent value of the highest non-empty bucket (0 when empty)."""
        nonzero = np.flatnonzero(self.counts)
        if not len(nonzero):
            return 0
        layout = self._layout
        return int(layout.get_highest_equivalent_value(
            layout.get_value_from_index(int(nonzero[-1]))))

    def get_mean_value(self) -> float:
        """Count-weighted mean of each bucket's middle value, as hdrh computes it."""
        total = self.get_total_count()
        if not total:
            return 0.0
        layout = self._layout
        weighted = 0
        for index in np.flatnonzero(self.counts).tolist():
            value = layout.get_highest_equivalent_value(layout.get_value_from_index(index))
            low = layout.get_lowest_equivalent_value(value)
            size = layout.get_highest_equivalent_value(value) - low + 1
            weighted += int(self.counts[index]) * (low + (size >> 1))
        return float(weighted) / total
