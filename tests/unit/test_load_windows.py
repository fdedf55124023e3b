"""Latency windows: recording, shipping, merging across workers, writing with no holes."""

from __future__ import annotations

import csv
import gc
import math
import random
import weakref
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.load import (
    Accumulator,
    LatencyFiles,
    Merger,
    Window,
    decode_windows,
    encode_windows,
    new_histogram,
    to_micros,
)
from harness.runfolder import fmt, read_latency


def window_of(values_ms: list[float], failures: int = 0) -> Window:
    w = Window()
    for i, v in enumerate(values_ms):
        w.record(v, i < failures)
    return w


def test_to_micros_rounds_and_clamps_to_the_histogram_range() -> None:
    """Milliseconds become whole microseconds inside [1 us, 1 h]."""
    assert to_micros(1.2345) == 1234 or to_micros(1.2345) == 1235
    assert to_micros(0.0) == 1
    assert to_micros(10 * 3_600_000.0) == 3_600_000_000


def test_accumulator_splits_requests_by_epoch_second() -> None:
    """Each request lands in the window of the second it completed in."""
    acc = Accumulator()
    acc.record(100.2, 5.0, False)
    acc.record(100.9, 7.0, True)
    acc.record(101.0, 9.0, False)
    windows = acc.take()
    assert sorted(windows) == [100, 101]
    assert (windows[100].requests, windows[100].failures) == (2, 1)
    assert windows[101].hist.get_total_count() == 1
    assert acc.take() == {}


def test_pending_counts_what_is_recorded_and_not_yet_folded() -> None:
    acc = Accumulator()
    for i in range(3):
        acc.record(1000.2 + i, 5.0, False, ("GET", f"/{i % 2}"))
    assert acc.pending == 3 and acc.recorded == 0
    acc.record(1003.5, 5.0, True)  # the total only: a batch of its own
    assert acc.pending == 4
    assert sum(w.requests for w in acc.take().values()) == 4
    assert acc.pending == 0 and acc.recorded == 4


def test_a_response_time_that_is_not_a_number_is_counted_not_timed() -> None:
    """The batch keeps what the request event gave: None, or a custom user's odd value,
    is a request counted (failed or not) without a time; the rest of the batch is intact."""
    acc = Accumulator()
    acc.record(100.1, 5.0, False, ("GET", "/a"))
    acc.record(100.2, None, True, ("GET", "/a"))
    acc.record(100.3, "slow", False, ("GET", "/a"))  # type: ignore[arg-type]
    acc.record(100.4, 7, True, ("GET", "/a"))
    window = acc.take()[100]
    assert (window.requests, window.failures) == (4, 2)
    assert window.hist.get_total_count() == 2 and window.hist.get_max_value() == 7003
    assert acc.pop_slowest() == 7.0  # since the last pop, taken or not


def test_pop_slowest_is_the_slowest_time_recorded_since_the_last_pop() -> None:
    acc = Accumulator()
    for t, ms in ((10.1, 3.0), (10.2, 250.0), (11.5, 40.0)):
        acc.record(t, ms, False)
    acc.record(11.6, None, True)
    assert acc.pop_slowest() == 250.0  # folded first: nothing left pending
    assert acc.pending == 0
    acc.record(12.0, 9.0, False)
    assert acc.pop_slowest() == 9.0
    assert acc.pop_slowest() == 0.0


def test_request_without_a_response_time_is_counted_not_timed() -> None:
    """A request event with response_time None counts, but adds nothing to the histogram."""
    w = Window()
    w.record(None, True)
    assert (w.requests, w.failures, w.hist.get_total_count()) == (1, 1, 0)
    assert w.row(3.0) == ("3", "1", "1", "", "", "", "")


def test_row_reports_hdr_percentiles_in_milliseconds() -> None:
    """p50/p95/p99/max come from the HDR histogram (3 significant digits), in ms."""
    w = window_of([float(v) for v in range(1, 101)])
    t, requests, failures, p50, p95, p99, mx = w.row(12.5)
    assert (t, requests, failures) == ("12.5", "100", "0")
    assert float(p50) == pytest.approx(50, rel=1e-3)
    assert float(p95) == pytest.approx(95, rel=1e-3)
    assert float(p99) == pytest.approx(99, rel=1e-3)
    assert float(mx) == pytest.approx(100, rel=1e-3)


def test_payload_round_trip_keeps_counts_and_histograms() -> None:
    """What a worker ships decodes to the same windows on the master."""
    windows = {7: window_of([1.0, 2.0, 300.0], failures=1), 8: Window(requests=2, failures=2)}
    decoded, upto, final = decode_windows(encode_windows(windows, 9.5, final=True))
    assert (upto, final) == (9.5, True)
    assert decoded[7].requests == 3 and decoded[7].failures == 1
    assert decoded[7].hist.get_max_value() == windows[7].hist.get_max_value()
    assert decoded[8].hist.get_total_count() == 0 and decoded[8].requests == 2


def test_foreign_payload_is_rejected() -> None:
    """A payload of another version raises ValueError rather than being misread."""
    with pytest.raises(ValueError, match="version"):
        decode_windows({"v": 99, "upto": 0, "w": []})


def _packed(slots: list[int], counts: list[int]) -> list[object]:
    return [1, 5, np.array(slots, "<u2").tobytes(), np.array(counts, "<i8").tobytes()]


@pytest.mark.parametrize("packed", [
    _packed([3, 2], [1, 1]),        # slots not ascending
    _packed([3, 3], [1, 1]),        # a slot twice (numpy's += would add it once)
    _packed([23552], [1]),          # past the counts array's end
    _packed([3], [0]),              # a count that is not positive
    _packed([3], [-2]),
    _packed([3, 4], [1]),           # slots and counts of different lengths
    _packed([], []),                # timed, yet no bucket
    [1, 5, b"\x01", b"\x00" * 8],   # half a slot
    [1, 5, "3", "1"],               # not bytes
])
def test_bucket_counts_out_of_shape_are_rejected(packed: list[object]) -> None:
    """A shipment's sparse bucket counts are checked before they are added, so a damaged
    payload is refused (the master logs it) rather than corrupting a merged window."""
    payload = {"v": encode_windows({}, 0.0)["v"], "upto": 1.0, "w": [[0, 2, 0, packed, []]]}
    with pytest.raises(ValueError, match="latency payload"):
        decode_windows(payload)


def test_a_shipped_window_holds_bucket_counts_not_histogram_text() -> None:
    """The payload carries the distinct buckets and their counts (a few numbers a window),
    and a window made from it reads the same histogram as the one recorded."""
    window = window_of([1.0, 1.0, 2.5, 300.0], failures=1)
    payload = encode_windows({7: window}, 8.0)
    _, requests, failures, packed, _ = payload["w"][0]
    lo, hi, slots, counts = packed
    counts = np.frombuffer(counts, "<i8").tolist()
    assert (requests, failures, sorted(counts), len(slots) // 2) == (4, 1, [1, 1, 2], 3)
    assert (lo, hi) == (1000, 300_000)  # microseconds: the smallest and largest recorded
    decoded, _, _ = decode_windows(payload)
    assert decoded[7].hist.encode() == window.hist.encode()


def test_merged_p99_is_the_p99_of_all_requests_not_an_average() -> None:
    """Merging two workers' histograms gives the percentile of the union of their requests."""
    rng = random.Random(1)
    fast = [rng.uniform(1, 5) for _ in range(990)]
    slow = [rng.uniform(200, 400) for _ in range(30)]
    merger = Merger(max_lag=10)
    merger.add("w1", {50: window_of(fast)}, upto=51.0)
    merger.add("w2", {50: window_of(slow)}, upto=51.0)
    merged = merger.pop_before(51)[50]
    expected = float(np.percentile(fast + slow, 99, method="inverted_cdf"))
    assert merged.requests == 1020
    assert merged.hist.get_value_at_percentile(99) / 1000 == pytest.approx(expected, rel=2e-3)


def test_a_second_is_complete_only_when_every_worker_reported_past_it() -> None:
    """The slowest worker's watermark decides which seconds can be written."""
    merger = Merger(max_lag=10)
    merger.add("w1", {}, upto=105.2)
    merger.add("w2", {}, upto=103.7)
    assert merger.complete_before(now=106.0) == 103


def test_a_connected_worker_that_never_reported_holds_the_timeline_up_to_max_lag() -> None:
    """An expected but silent worker blocks writing for max_lag seconds, no longer."""
    merger = Merger(max_lag=10)
    merger.add("w1", {}, upto=105.0)
    assert merger.complete_before(now=106.0, expected=["w1", "w2"]) == 96
    assert merger.complete_before(now=106.0, expected=["w1"]) == 105


def test_a_final_worker_no_longer_holds_the_timeline() -> None:
    """After its final shipment a worker's old watermark is ignored."""
    merger = Merger(max_lag=10)
    merger.add("w1", {}, upto=100.0, final=True)
    merger.add("w2", {}, upto=104.5)
    assert merger.open_sources() == {"w2"}
    assert merger.complete_before(now=105.0) == 104


def test_data_for_a_written_second_is_counted_as_late() -> None:
    """Windows arriving after their second was written are counted, not merged."""
    merger = Merger(max_lag=10)
    merger.add("w1", {10: window_of([1.0])}, upto=11.0)
    merger.pop_before(11)
    merger.add("w2", {10: window_of([1.0, 2.0]), 11: window_of([3.0])}, upto=12.0)
    assert merger.late_requests == 2
    assert list(merger.pending) == [11]


def test_files_have_a_row_for_every_second_and_hdr_lines_only_with_data(tmp_path: Path) -> None:
    """Seconds without requests get zero rows; latency.hdr holds decodable histograms."""
    files = LatencyFiles(tmp_path, t0=1000.25, first_second=1000)
    assert files.write_before(1003, {1001: window_of([2.0, 4.0])}) == 3
    assert files.write_before(1002, {}) == 0  # already written: nothing twice
    files.write_before(1005, {1004: window_of([8.0], failures=1)})
    files.close()
    table = read_latency(tmp_path / "latency.csv")
    assert list(table.t) == pytest.approx([-0.25, 0.75, 1.75, 2.75, 3.75])
    assert list(table.requests) == [0, 2, 0, 0, 1]
    assert list(table.failures) == [0, 0, 0, 0, 1]
    assert math.isnan(table.p99_ms[0]) and table.p99_ms[4] == pytest.approx(8.0, rel=1e-3)
    lines = (tmp_path / "latency.hdr").read_text().splitlines()
    assert lines[0] == "t,histogram" and len(lines) == 3
    t, enc = lines[2].split(",", 1)
    assert float(t) == pytest.approx(3.75)
    assert HdrHistogram.decode(enc).get_total_count() == 1


def test_csv_header_is_the_run_folder_contract(tmp_path: Path) -> None:
    """latency.csv starts with the contract's header."""
    LatencyFiles(tmp_path, 0.0, 0).close()
    with (tmp_path / "latency.csv").open() as fh:
        assert next(csv.reader(fh)) == ["t", "requests", "failures", "p50_ms", "p95_ms",
                                        "p99_ms", "max_ms"]


def test_new_histogram_covers_one_microsecond_to_one_hour() -> None:
    """The histogram range is 1 us .. 1 h at 3 significant digits."""
    h = new_histogram()
    h.record_value(3_600_000_000)
    assert h.get_max_value() >= 3_600_000_000 * 0.999


@pytest.mark.parametrize(("keep_seconds", "odd_fold_at"), [(4, 8192), (1, 7)])
def test_batched_accumulator_is_byte_identical_to_recording_one_by_one(
        keep_seconds: int, odd_fold_at: int) -> None:
    """The listener's batch, folded with numpy, gives exactly the windows that recording
    each request into hdrh would: counts, failures, names and the encoded histograms
    (bucket edges, sub-millisecond, clamped, untimed, NaN and infinite values included),
    also when a batch is folded part-way through a second (``odd_fold_at``: the failed
    requests' batch is full) and when the seconds pending outnumber ``keep_seconds``."""
    rng = random.Random(7)
    edges = [0.0, 0.0004, 0.0005, 0.0015, 2.047, 2.048, 2.0485, 4.095, 4.096, 65.535,
             3.6e6, 1e12, -5.0, None, math.nan, math.inf]
    acc, expected = Accumulator(keep_seconds=keep_seconds, odd_fold_at=odd_fold_at), {}
    for i in range(6000):
        value = rng.choice([*edges, rng.uniform(0, 50), rng.expovariate(0.01),
                            rng.lognormvariate(3, 2)])
        now, failed = 1000.0 + i * 3e-4, i % 7 == 0
        key = ("GET", f"/item/{i % 3}") if i % 5 else None
        acc.record(now, value, failed, key)
        expected.setdefault(math.floor(now), Window()).record(value, failed, key)
    got = acc.take()
    assert sorted(got) == sorted(expected) and len(got) == 2
    for second, want in expected.items():
        have = got[second]
        assert (have.requests, have.failures) == (want.requests, want.failures)
        assert have.hist.encode() == want.hist.encode()
        assert sorted(have.names) == sorted(want.names)
        for key, sub in want.names.items():
            assert (have.names[key].requests, have.names[key].failures) == (
                sub.requests, sub.failures)
            assert have.names[key].hist.encode() == sub.hist.encode()
    assert acc.take() == {}


def test_appending_to_the_current_second_as_the_listener_does_equals_recording() -> None:
    """The request listener appends the common request (not failed, a float time) to
    ``rows`` itself, calling ``roll`` when ``now`` is outside ``[lo, hi)``: the same windows
    as ``record``, also across takes, folds of a full odd batch and a wall clock stepped
    back (nothing appended after a fold or take is lost, nothing lands in the wrong second)."""
    rng = random.Random(11)
    direct = Accumulator(keep_seconds=2, odd_fold_at=3)
    inline = Accumulator(keep_seconds=2, odd_fold_at=3)
    taken: list[dict[int, Window]] = [{}, {}]
    for i in range(400):
        now = 500.0 + i * 0.01 - (1.5 if 200 <= i < 230 else 0.0)  # the clock stepped back
        ms, key = rng.uniform(0.1, 90.0), ("GET", f"/{i % 3}")
        failed = i % 13 == 0
        direct.record(now, ms, failed, key)
        if failed:
            inline.record(now, ms, failed, key)
        else:
            if not inline.lo <= now < inline.hi:
                inline.roll(now)
            rows = inline.rows.get(key)
            if rows is None:
                rows = inline.rows[key] = []
            rows.append(ms)
        if i % 97 == 0:  # a worker's report between requests
            for into, acc in zip(taken, (direct, inline), strict=True):
                for second, window in acc.take().items():
                    into.setdefault(second, Window()).merge(window)
    for into, acc in zip(taken, (direct, inline), strict=True):
        for second, window in acc.take().items():
            into.setdefault(second, Window()).merge(window)
    assert inline.pending == 0 and inline.lo > inline.hi
    assert sorted(taken[0]) == sorted(taken[1]) and sum(w.requests for w in taken[1].values()) == 400
    assert sum(w.requests for w in taken[1].values()) == 400 and len(taken[1]) == 4
    for second, want in taken[0].items():
        have = taken[1][second]
        assert (have.requests, have.failures, have.hist.encode()) == (
            want.requests, want.failures, want.hist.encode())
        assert {k: n.hist.encode() for k, n in have.names.items()} == {
            k: n.hist.encode() for k, n in want.names.items()}


def test_a_batch_whose_clock_stepped_back_is_split_by_second_not_counted_twice() -> None:
    """Rows out of time order (the wall clock stepped back mid-batch), first and last in
    the same second: each second gets its own rows, once."""
    acc = Accumulator()
    for now, ms in ((100.2, 1.0), (101.5, 2.0), (100.9, 3.0)):
        acc.record(now, ms, False, ("GET", "/x"))
    windows = acc.take()
    assert {s: w.requests for s, w in windows.items()} == {100: 2, 101: 1}
    assert {s: w.names[("GET", "/x")].hist.get_total_count() for s, w in windows.items()} == {
        100: 2, 101: 1}


def test_keys_are_taken_as_the_event_gives_them_and_named_as_strings_when_folded() -> None:
    """The listener passes Locust's (request_type, name) untouched: a None in it reads as
    "" (the same key as an empty string), a None key counts in the total only; every
    request folded is counted, failed ones apart."""
    acc = Accumulator()
    acc.record(100.1, 1.0, False, ("GET", None))
    acc.record(100.2, 2.0, True, ("GET", ""))
    acc.record(100.3, 3.0, False, (None, "/x"))
    acc.record(100.4, None, True, None)
    assert acc.recorded == 0  # nothing folded yet
    window = acc.take()[100]
    assert (window.requests, window.failures) == (4, 2)
    assert {k: (w.requests, w.failures) for k, w in window.names.items()} == {
        ("GET", ""): (2, 1), ("", "/x"): (1, 0)}
    assert (acc.recorded, acc.recorded_failed) == (4, 2)


@pytest.mark.parametrize("seed", range(6))
def test_a_window_row_reads_the_percentiles_hdrh_itself_reads(seed: int) -> None:
    """latency.csv's p50/p95/p99 from the cumulative counts (numpy) are the values hdrh's
    own walk gives, for spread, narrow, single-value and decoded (shipped) windows."""
    rng = random.Random(seed)
    window = Window()
    size = rng.choice([1, 2, 3, 100, 5000])
    for _ in range(size):
        window.record(rng.choice([rng.lognormvariate(1, 2), 0.25, 2.048, 1e6 * rng.random()]),
                      False)
    if seed % 2:
        window.hist = HdrHistogram.decode(window.hist.encode())
    at = window.hist.get_percentile_to_value_dict([50.0, 95.0, 99.0])
    want = [at[p] for p in (50.0, 95.0, 99.0)] + [window.hist.get_max_value()]
    assert window.row(5.0)[3:] == tuple(fmt(round(v / 1000.0, 3)) for v in want)


@pytest.mark.parametrize("seed", range(6))
def test_a_sparse_window_writes_the_row_and_hdr_text_of_its_histogram(
        seed: int, tmp_path: Path) -> None:
    """Windows kept as sparse counts (folded by the listener's batch in parts, as a
    master's merged windows are) are written without a histogram of their own: their
    latency.csv cells are hdrh's percentiles and max, and their latency.hdr text is the
    bytes hdrh encodes, also for each window written after another (the one scratch
    histogram is emptied between two) and for a window that has a histogram."""
    rng = random.Random(seed)
    windows, wanted = {}, []
    for second in range(100, 104):
        if second == 103:  # the first one again, after the others
            values = wanted[0][1]
        else:
            size = rng.choice([1, 2, 3, 100, 5000])
            values = [rng.choice([rng.lognormvariate(1, 2), 0.25, 2.048, 1e6 * rng.random()])
                      for _ in range(size)]
        acc, fold_every = Accumulator(), rng.choice([7, 8192])  # 7: a window of many parts
        for i, v in enumerate(values):
            acc.record(second + i * 1e-5, v, False)
            if i % fold_every == fold_every - 1:
                acc.fold()
        windows[second] = acc.take()[second]
        wanted.append((window_of(values), values))
    windows[104] = window_of(wanted[1][1])  # one with a histogram (recorded one by one)
    wanted.append((window_of(wanted[1][1]), wanted[1][1]))
    files = LatencyFiles(tmp_path, 90.0, 100)
    files.write_before(105, windows)
    files.close()
    with (tmp_path / "latency.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    hdr = (tmp_path / "latency.hdr").read_text(encoding="utf-8").splitlines()[1:]
    assert len(rows) == len(hdr) == 5
    for row, line, (want, _) in zip(rows, hdr, wanted, strict=True):
        at = want.hist.get_percentile_to_value_dict([50.0, 95.0, 99.0])
        cells = [at[p] for p in (50.0, 95.0, 99.0)] + [want.hist.get_max_value()]
        assert row[3:] == [fmt(round(v / 1000.0, 3)) for v in cells]
        assert line.split(",", 1)[1] == want.hist.encode().decode("ascii")


def test_a_dropped_window_frees_its_histograms_without_the_cyclic_collector() -> None:
    """hdrh's histogram and encoder point at each other; ours do not hold each other
    alive (a Locust master's RSS grew while dead histograms waited for a full collection):
    a recorded, shipped and decoded window is gone once dropped, with the collector off,
    and still encodes the same after the round trip."""
    acc = Accumulator()
    acc.record(100.5, 2.0, False, ("GET", "/x"))
    windows = acc.take()
    payload = encode_windows(windows, 101.0)
    decoded, _, _ = decode_windows(payload)
    assert decoded[100].hist.encode() == windows[100].hist.encode()
    refs = [weakref.ref(w.hist) for w in (windows[100], decoded[100])]
    refs += [weakref.ref(w.names[("GET", "/x")].hist) for w in (windows[100], decoded[100])]
    gc.disable()
    try:
        del windows, decoded
        assert [r() for r in refs] == [None] * 4
    finally:
        gc.enable()
