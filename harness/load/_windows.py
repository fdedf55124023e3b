"""Per-second latency windows: record, ship between processes, merge, write.

Pure logic plus the two run-folder files; no Locust import, so it is unit-tested directly.

A window is one epoch second ``s`` (requests completed in ``[s, s+1)``): a request count, a
failure count and an HDR histogram of response times in microseconds. Workers ship their
windows to the master with a watermark ``upto``: every request completed before ``upto``
is in this or an earlier shipment. The master writes second ``s`` once every source's
watermark passed ``s + 1`` (no source can still report for it), or ``max_lag`` seconds
later at the latest (a worker that went silent does not stall the timeline).

Each window also holds one sub-window per request name (Locust's ``request_type`` and
``name``): same counts and histogram, for that name only. At most ``NAME_CAP`` distinct
names are kept (per process, and again where windows are merged); later names fold into
one ``(other)`` bucket, so a user that puts IDs in its names cannot grow the harness's
memory or files without bound. The total window is recorded exactly as without names.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import numpy as np
from hdrh.histogram import HdrHistogram

from harness._hdr import value_at_percentile
from harness.runfolder import (
    HDR_HEADER,
    LATENCY_HEADER,
    NAMES_HDR_FILE,
    NAMES_HDR_HEADER,
    NAMES_HEADER,
    NAMES_LATENCY_FILE,
    OTHER_NAME,
    LineWriter,
    fmt,
)

LOWEST_US: Final = 1
HIGHEST_US: Final = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS: Final = 3
PAYLOAD_VERSION: Final = 3  # 2: per-name sub-windows; 3: sparse bucket counts, not hdrh text
NAME_CAP: Final = 50  # distinct (type, name) keys kept; later ones fold into (other)
OTHER_KEY: Final = ("", OTHER_NAME)

NameKey = tuple[str, str]  # (request_type, name)
PERCENTILES: Final = (50.0, 95.0, 99.0)


def new_histogram() -> HdrHistogram:
    return acyclic(HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS))


def acyclic(hist: HdrHistogram) -> HdrHistogram:
    """``hist`` freed as soon as it is dropped, not at the next full garbage collection.

    hdrh's histogram and its encoder point at each other, so every histogram is a reference
    cycle: only the cyclic collector frees it, with its 188 KB of counts. A Locust master
    makes a few a second (each worker's shipped windows, decoded) and allocates little else,
    so its collector seldom runs and the dead histograms piled up: its RSS grew ~10 MB a
    minute (the run's own ``rss.growth[locust]`` check failed a 30 s run). The encoder only
    reads the histogram's attributes, so a weak proxy serves it."""
    hist.encoder.histogram = weakref.proxy(hist)
    return hist


def to_micros(response_time_ms: float) -> int:
    """Locust's response time (ms, float) as HDR microseconds, clamped to the range."""
    return min(max(round(response_time_ms * 1000.0), LOWEST_US), HIGHEST_US)


def to_micros_array(response_times_ms: np.ndarray) -> np.ndarray:
    """:func:`to_micros` of each (finite) value: Python's ``round`` and ``np.rint`` both
    round half to even, so the results are the same integers."""
    clipped = np.clip(np.rint(response_times_ms * 1000.0), LOWEST_US, HIGHEST_US)
    return clipped.astype(np.int64)


_NO_SLOTS: Final = np.zeros(0, dtype=np.int64)
_SHAPE: Final = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)  # bucket layout only


def slots_of(micros: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The counts-array slots of ``micros`` (in range: see :func:`to_micros_array`) and how
    many values fall in each: hdrh 0.10's own bucket arithmetic (``_counts_index_for``),
    vectorised, with the bit length from ``np.frexp`` (exact below 2**53). The version is
    pinned, and tests/unit/test_load_windows.py checks that the encoded histogram is
    byte-identical to recording the values one by one."""
    half_mag = _SHAPE.sub_bucket_half_count_magnitude
    unit = _SHAPE.unit_magnitude
    bit_length = np.frexp((micros | _SHAPE.sub_bucket_mask).astype(np.float64))[1]
    bucket = bit_length.astype(np.int64) - unit - (half_mag + 1)
    sub_bucket = micros >> (bucket + unit)
    index = ((bucket + 1) << half_mag) + (sub_bucket - _SHAPE.sub_bucket_half_count)
    slots, counts = np.unique(index, return_counts=True)
    return slots, counts.astype(np.int64)


def add_sparse(hist: HdrHistogram, slots: np.ndarray, counts: np.ndarray, lo: int,
               hi: int) -> None:
    """Add ``counts`` at the distinct ``slots`` of ``hist``'s counts array, whose smallest
    and largest values were ``lo`` and ``hi`` microseconds."""
    if not len(slots):
        return
    view = np.ctypeslib.as_array(hist.counts)
    view[slots] += counts.astype(view.dtype)
    hist.total_count += int(counts.sum())
    hist.min_value = min(hist.min_value, lo)
    hist.max_value = max(hist.max_value, hi)


def used_counts(hist: HdrHistogram) -> np.ndarray:
    """``hist``'s counts up to its highest value's bucket (a view): what holds its values,
    not the whole range's 23,552 buckets."""
    last = hist._counts_index_for(hist.max_value)
    return np.ctypeslib.as_array(hist.counts)[:min(last + 1, hist.counts_len)]


class NameCap:
    """Admits the first ``limit`` distinct request keys; every later one becomes
    ``OTHER_KEY``. Remembers only counts and the first folded key (bounded memory)."""

    def __init__(self, limit: int = NAME_CAP) -> None:
        self.limit = limit
        self.admitted: set[NameKey] = set()
        self.folded_requests = 0
        self.first_folded: NameKey | None = None

    def key(self, key: NameKey, requests: int = 1) -> NameKey:
        if key in self.admitted:
            return key
        if len(self.admitted) < self.limit and key != OTHER_KEY:
            self.admitted.add(key)
            return key
        if key != OTHER_KEY and self.first_folded is None:
            self.first_folded = key
        self.folded_requests += requests
        return OTHER_KEY


class Window:
    """One second: counts and the histogram of the requests that completed in it, and the
    same per request name in ``names`` (empty in a per-name window itself).

    The histogram is made only when read (``hist``): until then the window keeps its timed
    values as sparse bucket counts (``slots`` -> ``counts``, with the smallest and largest
    value), which is what a worker folds, ships and the master adds up. An HdrHistogram is
    23,552 counters (188 KB) to allocate, encode, decode and add: making one per second
    and name in every worker, and again for each worker's shipment in the master, was most
    of the plugin's per-second cost beside the load (py-spy, GIL samples of a master).
    """

    __slots__ = ("_hist", "_parts", "_timed", "failures", "names", "requests")

    def __init__(self, requests: int = 0, failures: int = 0,
                 hist: HdrHistogram | None = None,
                 names: dict[NameKey, Window] | None = None) -> None:
        self.requests = requests
        self.failures = failures
        self.names: dict[NameKey, Window] = {} if names is None else names
        self._hist = hist
        self._parts: list[tuple[np.ndarray, np.ndarray, int, int]] = []  # not in _hist yet
        self._timed = 0 if hist is None else hist.get_total_count()

    @property
    def hist(self) -> HdrHistogram:
        """The window's HDR histogram (made, and the sparse counts added, on first read)."""
        if self._hist is None:
            self._hist = new_histogram()
        for part in self._parts:
            add_sparse(self._hist, *part)
        self._parts = []
        return self._hist

    @hist.setter
    def hist(self, hist: HdrHistogram) -> None:
        self._hist, self._parts, self._timed = hist, [], hist.get_total_count()

    @property
    def timed(self) -> int:
        """How many of its requests have a response time (the histogram's total count)."""
        return self._timed

    def add_counts(self, slots: np.ndarray, counts: np.ndarray, lo: int, hi: int) -> None:
        """Timed values as sparse bucket counts (:func:`slots_of`), kept sparse until read."""
        if len(slots):
            self._timed += int(counts.sum())
            if self._hist is None:
                self._parts.append((slots, counts, lo, hi))
            else:
                add_sparse(self._hist, slots, counts, lo, hi)

    def sparse(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The timed values as (distinct slots, counts, smallest, largest value)."""
        if self._hist is not None:
            hist = self.hist
            if not self._timed:
                return _NO_SLOTS, _NO_SLOTS, 0, 0
            counts = used_counts(hist)
            slots = np.flatnonzero(counts)
            return slots, counts[slots].astype(np.int64), hist.min_value, hist.max_value
        if not self._parts:
            return _NO_SLOTS, _NO_SLOTS, 0, 0
        if len(self._parts) > 1:
            every = np.concatenate([part[0] for part in self._parts])
            slots, inverse = np.unique(every, return_inverse=True)
            counts = np.bincount(inverse, weights=np.concatenate(
                [part[1] for part in self._parts])).astype(np.int64)
            self._parts = [(slots, counts, min(part[2] for part in self._parts),
                            max(part[3] for part in self._parts))]
        return self._parts[0]

    def record(self, response_time_ms: float | None, failed: bool,
               key: NameKey | None = None) -> None:
        """One request, one value at a time (hdrh's own ``record_value``). The request
        listener records through :class:`Accumulator` instead, in batches."""
        self.requests += 1
        self.failures += int(failed)
        timed = response_time_ms is not None and math.isfinite(response_time_ms)
        self._timed += int(timed)
        if key is None:
            if timed:
                self.hist.record_value(to_micros(response_time_ms))  # type: ignore[arg-type]
            return
        sub = self.names.get(key)
        if sub is None:
            sub = self.names[key] = Window()
        sub.requests += 1
        sub.failures += int(failed)
        sub._timed += int(timed)
        if timed:
            micros = to_micros(response_time_ms)  # type: ignore[arg-type]
            self.hist.record_value(micros)
            sub.hist.record_value(micros)

    def merge(self, other: Window, cap: NameCap | None = None) -> None:
        self.requests += other.requests
        self.failures += other.failures
        if other.timed:
            self.add_counts(*other.sparse())
        self._add_names(other.names, cap)

    def _add_names(self, names: dict[NameKey, Window], cap: NameCap | None) -> None:
        for key, sub in names.items():
            if cap is not None:
                key = cap.key(key, sub.requests)
            mine = self.names.get(key)
            if mine is None:
                self.names[key] = sub
            else:
                mine.merge(sub)

    def capped(self, cap: NameCap) -> Window:
        """This window with its names passed through ``cap`` (folded ones merged)."""
        names, self.names = self.names, {}
        self._add_names(names, cap)
        return self

    def row(self, t: float) -> tuple[str, ...]:
        """The ``latency.csv`` row; empty percentile cells when nothing was timed."""
        cells: tuple[str, ...] = ("",) * 4
        if self.timed:
            # hdrh walks the counts in Python; numpy over the sparse counts instead, every
            # second and name, without making (or filling) a histogram
            slots, counts, _lo, hi = self.sparse()
            running = np.cumsum(counts, dtype=np.int64)
            values = (*(value_at_percentile(_SHAPE, running, p, slots) for p in PERCENTILES),
                      _SHAPE.get_highest_equivalent_value(hi))
            cells = tuple(fmt(round(v / 1000.0, 3)) for v in values)
        return (fmt(round(t, 3)), str(self.requests), str(self.failures), *cells)


def _table(rows: list[float | bool | None]) -> np.ndarray:
    """A batch's flat rows as an (n, 3) float array: None (and anything a custom user
    passed that is not a number) reads as nan, i.e. not timed; bools as 0/1."""
    try:
        flat = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        flat = np.array([_number(v) for v in rows], dtype=np.float64)
    return flat.reshape(-1, 3)


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


class Accumulator:
    """The windows of one process since the last :meth:`take` (used inside request events).

    :meth:`record` runs once per request in the request listener, on the same core as the
    users, so it only appends the request to a batch: the common request (not failed, its
    response time a float) to a list of response times per second and key (``rows``, the
    current second's, bounded by ``lo <= now < hi``), which numpy reads as one float array;
    every other one (failed, or no time, or a custom user's odd value) to a batch of (time,
    response time, failed) rows read one value at a time. Nothing per request is kept but
    the response time Locust made (no time, no tuple): a worker keeps ~1.5 s of requests on
    average, folded into the windows with numpy (:func:`slots_of`) on :meth:`take` and
    whenever more than ``keep_seconds`` seconds are pending (bounded memory between takes).
    Keys are taken as the request event gives them and made ``(str, str)`` when folded.
    Each fold costs a worker several times its timed cost (numpy's code and the batch's
    floats through the caches): folding every 256 requests instead of every 8,192 cost ~1%
    of a worker's requests to nginx (``throughput.py``'s pairs, 2 workers).
    """

    def __init__(self, cap: NameCap | None = None, keep_seconds: int = 4,
                 odd_fold_at: int = 8192) -> None:
        self._windows: dict[int, Window] = {}
        # second -> key -> response times (ms) of requests not failed, timed by a float
        self._seconds: dict[int, dict[tuple[Any, Any] | None, list[float]]] = {}
        self.keep_seconds = keep_seconds
        # The current second's batch and bounds, read by the listener per request; a fold
        # or take closes them (lo > hi), so the next request calls roll() again.
        self.rows: dict[tuple[Any, Any] | None, list[float]] = {}
        self.lo, self.hi = math.inf, -math.inf
        # key -> flat rows (epoch, response time as given, failed) of every other request
        self._odd: dict[tuple[Any, Any] | None, list[Any]] = {}
        self._odd_fold_len = 3 * odd_fold_at
        self.cap = cap if cap is not None else NameCap()
        self.recorded = 0  # requests folded into windows so far, failed ones too
        self.recorded_failed = 0
        self.slowest_ms = 0.0  # the slowest response time folded since pop_slowest

    def roll(self, now: float) -> None:
        """Make ``now``'s second the current one (``rows``, ``lo``, ``hi``); folds first
        when more than ``keep_seconds`` seconds are pending."""
        second = math.floor(now)
        rows = self._seconds.get(second)
        if rows is None:
            if len(self._seconds) >= self.keep_seconds:
                self.fold()
            rows = self._seconds[second] = {}
        self.rows, self.lo, self.hi = rows, float(second), float(second + 1)

    def record(self, now: float, response_time_ms: float | None, failed: bool,
               key: tuple[Any, Any] | None = None) -> None:
        """One request; ``key`` (request_type, name) also records it under its name (a
        None in it reads as ""); None: in the total only."""
        if failed or type(response_time_ms) is not float:
            odd = self._odd.get(key)
            if odd is None:
                odd = self._odd[key] = []
            odd.extend((now, response_time_ms, failed))
            if len(odd) >= self._odd_fold_len:
                self.fold()
            return
        if not self.lo <= now < self.hi:
            self.roll(now)
        rows = self.rows.get(key)
        if rows is None:
            rows = self.rows[key] = []
        rows.append(response_time_ms)

    def fold(self) -> None:
        """Everything recorded so far into the windows (the batches emptied, the current
        second closed)."""
        seconds, self._seconds = self._seconds, {}
        self.rows, self.lo, self.hi = {}, math.inf, -math.inf
        odd, self._odd = self._odd, {}
        for second, batch in seconds.items():
            for raw_key, rows in batch.items():
                times = np.array(rows, dtype=np.float64)
                self._fold_part(second, self._capped(raw_key, len(times)), times, 0)
        for raw_key, mixed in odd.items():
            table = _table(mixed)
            self._fold_rows(raw_key, table[:, 0], table[:, 1], table[:, 2])

    def _capped(self, raw_key: tuple[Any, Any] | None, requests: int) -> NameKey | None:
        return None if raw_key is None else self.cap.key(
            (str(raw_key[0] or ""), str(raw_key[1] or "")), requests)

    def _fold_rows(self, raw_key: tuple[Any, Any] | None, epochs: np.ndarray,
                   times: np.ndarray, failed: np.ndarray) -> None:
        """One key's mixed rows into the windows, each second's rows found as the runs of
        equal seconds (rows are in time order unless the wall clock stepped)."""
        capped = self._capped(raw_key, len(epochs))
        seconds = np.floor(epochs).astype(np.int64)
        edges = [0, *(np.flatnonzero(seconds[1:] != seconds[:-1]) + 1).tolist(), len(seconds)]
        for start, end in itertools.pairwise(edges):
            self._fold_part(int(seconds[start]), capped, times[start:end],
                            int(np.count_nonzero(failed[start:end])))

    def _fold_part(self, second: int, capped: NameKey | None, times: np.ndarray,
                   failures: int) -> None:
        """Requests of one second and key (``times``: nan where not timed)."""
        window = self._windows.get(second)
        if window is None:
            window = self._windows[second] = Window()
        requests = len(times)
        window.requests += requests
        window.failures += failures
        self.recorded += requests
        self.recorded_failed += failures
        timed = times[np.isfinite(times)]
        counted: tuple[np.ndarray, np.ndarray, int, int] | None = None
        if len(timed):
            self.slowest_ms = max(self.slowest_ms, float(timed.max()))
            micros = to_micros_array(timed)
            counted = (*slots_of(micros), int(micros.min()), int(micros.max()))
            window.add_counts(*counted)
        if capped is not None:
            sub = window.names.get(capped)
            if sub is None:
                sub = window.names[capped] = Window()
            sub.requests += requests
            sub.failures += failures
            if counted is not None:
                sub.add_counts(*counted)

    def pop_slowest(self) -> float:
        """The slowest response time (ms) recorded since the last call, everything recorded
        so far folded first; starts again from 0."""
        self.fold()
        slowest, self.slowest_ms = self.slowest_ms, 0.0
        return slowest

    @property
    def pending(self) -> int:
        """Requests recorded and not yet folded into windows."""
        return (sum(len(rows) for batch in self._seconds.values() for rows in batch.values())
                + sum(len(rows) for rows in self._odd.values()) // 3)

    def take(self) -> dict[int, Window]:
        """Hand over every window recorded so far and start empty."""
        self.fold()
        windows, self._windows = self._windows, {}
        return windows


def encode_windows(windows: dict[int, Window], upto: float, final: bool = False) -> dict[str, Any]:
    """A msgpack-safe payload for Locust's worker->master messages: counts and each
    window's timed values as sparse bucket counts (:meth:`Window.sparse`)."""
    return {
        "v": PAYLOAD_VERSION,
        "upto": upto,
        "final": final,
        "w": [[s, w.requests, w.failures, _pack(w),
               [[k[0], k[1], n.requests, n.failures, _pack(n)] for k, n in w.names.items()]]
              for s, w in sorted(windows.items())],
    }


_SLOT: Final = np.dtype("<u2")  # a counts-array index (the array has 23,552 slots)
_COUNT: Final = np.dtype("<i8")


def _pack(window: Window) -> list[Any]:
    """[smallest, largest, slots, counts] (the arrays as little-endian bytes: a window at
    ~2,000 requests/s has ~1,500 distinct buckets, and lists of Python ints cost the
    master more to read than the rest of the merge); [] when nothing was timed."""
    if not window.timed:
        return []
    slots, counts, lo, hi = window.sparse()
    return [lo, hi, slots.astype(_SLOT).tobytes(), counts.astype(_COUNT).tobytes()]


def _unpack(requests: Any, failures: Any, packed: list[Any]) -> Window:
    window = Window(int(requests), int(failures))
    if packed:
        lo, hi, slot_bytes, count_bytes = packed
        try:
            slots = np.frombuffer(slot_bytes, dtype=_SLOT).astype(np.int64)
            counts = np.frombuffer(count_bytes, dtype=_COUNT)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"latency payload: unreadable bucket counts ({exc})") from None
        if (slots.shape != counts.shape or not len(slots) or slots[0] < 0
                or slots[-1] >= _SHAPE.counts_len or np.any(np.diff(slots) <= 0)
                or np.any(counts <= 0)):
            raise ValueError("latency payload: bucket counts out of shape")
        window.add_counts(slots, counts, int(lo), int(hi))
    return window


@functools.cache
def _scratch() -> HdrHistogram:
    """The one histogram :func:`_encode` fills and empties again (the writer runs in one
    thread: a Locust process's gevent hub)."""
    return new_histogram()


def _encode(window: Window) -> str:
    """The window's histogram as latency.hdr holds it (hdrh's base64 text).

    Encoded through one scratch histogram, filled at the window's slots and emptied after,
    instead of a histogram made for it: a master writes one for every second and name, and
    making one (23,552 counters, and as many again for its encoder) was most of what
    writing a second cost. The bytes are hdrh's own: the encoding reads the counts up to
    the largest value's bucket, nothing else of it."""
    if not window.timed:
        return ""
    slots, counts, lo, hi = window.sparse()
    hist = _scratch()
    view = np.ctypeslib.as_array(hist.counts)
    try:
        add_sparse(hist, slots, counts, lo, hi)
        return str(hist.encode().decode("ascii"))
    finally:
        view[slots] = 0
        hist.total_count, hist.min_value, hist.max_value = 0, sys.maxsize, 0


def decode_windows(payload: dict[str, Any]) -> tuple[dict[int, Window], float, bool]:
    """Inverse of :func:`encode_windows`; raises ValueError on a foreign payload."""
    if payload.get("v") != PAYLOAD_VERSION:
        raise ValueError(f"latency payload version {payload.get('v')!r}, not {PAYLOAD_VERSION}")
    windows: dict[int, Window] = {}
    for second, requests, failures, packed, names in payload["w"]:
        window = _unpack(requests, failures, packed)
        for rtype, name, n_requests, n_failures, n_packed in names:
            window.names[(str(rtype), str(name))] = _unpack(n_requests, n_failures, n_packed)
        windows[int(second)] = window
    return windows, float(payload["upto"]), bool(payload.get("final", False))


class Merger:
    """Windows from several sources (workers, or the local process), merged per second."""

    def __init__(self, max_lag: float, cap: NameCap | None = None) -> None:
        self.max_lag = max_lag
        self.cap = cap if cap is not None else NameCap()  # over every source's names
        self.pending: dict[int, Window] = {}
        self.upto: dict[str, float] = {}
        self.final: set[str] = set()
        self.written_before = -math.inf  # seconds below this are on disk already
        self.late_requests = 0

    def add(
        self, source: str, windows: dict[int, Window], upto: float, final: bool = False
    ) -> None:
        for second, window in windows.items():
            if second < self.written_before:
                self.late_requests += window.requests
                continue
            mine = self.pending.get(second)
            if mine is None:
                self.pending[second] = window.capped(self.cap)
            else:
                mine.merge(window, self.cap)
        self.upto[source] = max(upto, self.upto.get(source, -math.inf))
        if final:
            self.final.add(source)

    def open_sources(self, expected: Iterable[str] = ()) -> set[str]:
        """Sources that may still report: seen and not final, plus ``expected`` not yet seen."""
        seen = {s for s in self.upto if s not in self.final}
        return seen | {s for s in expected if s not in self.upto}

    def complete_before(self, now: float, expected: Iterable[str] = ()) -> int:
        """The first second that may still change: every second below it can be written."""
        watermark = now
        for source in self.open_sources(expected):
            watermark = min(watermark, self.upto.get(source, -math.inf))
        watermark = max(watermark, now - self.max_lag)
        return math.floor(watermark)

    def pop_before(self, second: int) -> dict[int, Window]:
        """Remove and return the pending windows below ``second``; later data is late."""
        out = {s: w for s, w in self.pending.items() if s < second}
        for s in out:
            del self.pending[s]
        self.written_before = max(self.written_before, second)
        return out


class LatencyFiles:
    """``latency.csv`` and ``latency.hdr``: one csv row for every second, no holes.

    Per-name windows go to ``latency-names.csv`` / ``latency-names.hdr`` (created with the
    first named request): one row per second *and name that had requests* in it.
    """

    def __init__(self, run_dir: Path, t0: float, first_second: int) -> None:
        self.t0 = t0
        self.run_dir = run_dir
        self.next_second = first_second
        self._csv = LineWriter(run_dir / "latency.csv", LATENCY_HEADER)
        self._hdr = LineWriter(run_dir / "latency.hdr", HDR_HEADER)
        self._names_csv: LineWriter | None = None
        self._names_hdr: LineWriter | None = None

    def _write_names(self, t: float, window: Window) -> None:
        if self._names_csv is None or self._names_hdr is None:
            self._names_csv = LineWriter(self.run_dir / NAMES_LATENCY_FILE, NAMES_HEADER)
            self._names_hdr = LineWriter(self.run_dir / NAMES_HDR_FILE, NAMES_HDR_HEADER)
        for (rtype, name), sub in sorted(window.names.items()):
            row = sub.row(t)
            self._names_csv.write_row((row[0], rtype, name, *row[1:]))
            if sub.timed:
                self._names_hdr.write_row((row[0], rtype, name, _encode(sub)))

    def write_before(self, second: int, windows: dict[int, Window]) -> int:
        """Write every second from the last written up to ``second`` (exclusive).

        Seconds without a window get a zero row; windows older than what is on disk are
        ignored (the Merger counts them as late). Returns the number of rows written.
        """
        rows = 0
        empty: Window | None = None  # made once needed: a histogram is 188 KB of counts
        for s in range(self.next_second, second):
            window = windows.get(s, empty)
            if window is None:
                window = empty = Window()
            t = s - self.t0
            self._csv.write_row(window.row(t))
            if window.timed:
                self._hdr.write_line(f"{fmt(round(t, 3))},{_encode(window)}")
            if window.names:
                self._write_names(t, window)
            rows += 1
        self.next_second = max(self.next_second, second)
        return rows

    def close(self) -> None:
        self._csv.close()
        self._hdr.close()
        for writer in (self._names_csv, self._names_hdr):
            if writer is not None:
                writer.close()
