"""hdrh's percentile rule read from a cumulative count array (numpy), shared by the writer
inside Locust (``harness.load``) and the analysis (``harness.analysis``).

hdrh's own ``get_value_at_percentile`` / ``get_percentile_to_value_dict`` walk the counts
in Python, bucket by bucket (~0.3 us each: milliseconds for one histogram); a cumulative
sum and a binary search give the same value. No Locust, no scipy: both sides import it.
"""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram


def value_at_percentile(layout: HdrHistogram, cumulative: np.ndarray, percentile: float,
                        slots: np.ndarray | None = None) -> int:
    """hdrh's rule: the bucket where the running count (``cumulative``, over ``layout``'s
    buckets) first reaches ``max(1, int(min(p, 100) * total / 100 + 0.5))``; its highest
    equivalent value (its lowest for p = 0); 0 when the histogram holds fewer values.
    ``slots``: ``cumulative`` is over these buckets only (sparse counts, ascending), each
    the counts-array index of its entry."""
    total = int(cumulative[-1]) if len(cumulative) else 0
    target = max(int((min(percentile, 100.0) * total / 100) + 0.5), 1)
    if total < target:
        return 0
    index = int(np.searchsorted(cumulative, target, side="left"))
    value = layout.get_value_from_index(index if slots is None else int(slots[index]))
    if percentile:
        return int(layout.get_highest_equivalent_value(value))
    return int(layout.get_lowest_equivalent_value(value))
