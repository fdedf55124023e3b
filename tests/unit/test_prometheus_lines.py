"""Only the series a source reads are parsed: the same values as parsing everything."""

from __future__ import annotations

import time

import pytest

from harness.metrics.sources import PrometheusSource, http_get_text, wanted_lines
from harness.metrics.sources import parse_exposition as _parsed
from tests.unit.loopback_http import serve

EXPOSITION = """\
# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="1"} 0.000311
go_gc_duration_seconds_sum 0.0048
go_gc_duration_seconds_count 31
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 23
# HELP go_goroutines_extra A family whose name only starts like another's.
# TYPE go_goroutines_extra gauge
go_goroutines_extra 99
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 14
# HELP toxiproxy_proxy_sent_bytes_total Bytes sent, "with quotes" and {braces}.
# TYPE toxiproxy_proxy_sent_bytes_total counter
toxiproxy_proxy_sent_bytes_total{direction="upstream",proxy="front"} 1200
toxiproxy_proxy_sent_bytes_total{direction="downstream",proxy="front"} 3400
# HELP http_seconds A histogram.
# TYPE http_seconds histogram
http_seconds_bucket{le="0.1"} 3
http_seconds_bucket{le="+Inf"} 5
http_seconds_sum 0.7
http_seconds_count 5

process_resident_memory_bytes 1.2e+07
"""


def test_wanted_series_parse_as_they_do_from_the_whole_text() -> None:
    names = {"go_goroutines", "toxiproxy_proxy_sent_bytes_total", "http_seconds_count",
             "process_resident_memory_bytes"}
    whole, part = _parsed(EXPOSITION), _parsed(wanted_lines(EXPOSITION, names))
    assert {name: part[name] for name in names} == {name: whole[name] for name in names}
    assert part["go_goroutines"] == [({}, 23.0)]
    assert sorted(v for _, v in part["toxiproxy_proxy_sent_bytes_total"]) == [1200.0, 3400.0]


def test_other_series_are_left_out() -> None:
    kept = wanted_lines(EXPOSITION, {"go_goroutines"})
    assert "go_goroutines 23" in kept
    for left_out in ("go_gc_duration_seconds_sum", "process_open_fds 14", "toxiproxy_proxy",
                     "http_seconds_bucket", "go_goroutines_extra 99"):
        assert left_out not in kept
    assert set(_parsed(kept)) == {"go_goroutines"}


def test_scrape_reads_a_real_endpoint_and_a_failing_one_reads_as_missing(tmp_path):
    """The scrape's GET (stdlib, a fresh connection each time) returns the body of a 200; a
    500 or a closed port raises OSError, and a source then reads None (missing), never a
    value parsed from an error page."""
    with serve(tmp_path, 200, EXPOSITION.encode()) as base:
        url = f"{base}/metrics?x=1"
        assert http_get_text(url) == EXPOSITION
        source = PrometheusSource(url, 'toxiproxy_proxy_sent_bytes_total{direction="upstream"}')
        assert source.read() == 1200.0
        (tmp_path / "status").write_text("500")
        with pytest.raises(OSError, match="HTTP 500"):
            http_get_text(url)
        time.sleep(0.6)  # older than the scrape's max age: taken afresh
        assert source.read() is None
    with pytest.raises(OSError):
        http_get_text(url, timeout=1.0)  # nothing listens there now


def test_a_tool_scrape_is_taken_at_most_every_interval_and_a_failure_is_not_kept(tmp_path):
    """``every``: within it the source reads the last answer again (no GET: the server's
    body changed and the value did not); after it, the new body. A failed GET is not kept:
    the next read asks again at once."""
    body = EXPOSITION.encode()
    with serve(tmp_path, 200, body) as base:
        source = PrometheusSource(f"{base}/metrics?tool=1", "go_goroutines", every=1.5)
        assert source.read() == 23.0
        (tmp_path / "body").write_bytes(body.replace(b"go_goroutines 23", b"go_goroutines 31"))
        time.sleep(0.7)  # past a tick's own max age (0.5 s), inside the interval
        assert source.read() == 23.0  # the answer of 0.7 s ago
        time.sleep(0.9)
        assert source.read() == 31.0  # older than the interval: taken afresh
        (tmp_path / "body").write_bytes(body.replace(b"go_goroutines 23", b"go_goroutines 40"))
        time.sleep(1.6)
        (tmp_path / "status").write_text("500")
        assert source.read() is None  # a failure reads as missing, never the old value
        (tmp_path / "status").write_text("200")
        assert source.read() == 40.0  # and is not kept for the interval
        # a target's source of the same URL reads each tick: the URL's scrape follows it
        each_tick = PrometheusSource(f"{base}/metrics?tool=1", "process_open_fds")
        (tmp_path / "body").write_bytes(body.replace(b"open_fds 14", b"open_fds 15"))
        time.sleep(0.6)
        assert each_tick.read() == 15.0
