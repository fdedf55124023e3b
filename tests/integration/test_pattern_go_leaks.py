"""The Go sample (goleaks): unclosed resp.Body and a stream with no read deadline, in Go."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from io import BufferedReader

import pytest
import requests

from harness.testing import ManagedProcess, free_port, wait_until
from harness.tools import build_go_sample, go_version
from tests.integration.conftest import settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N = 20
STREAM_IDLE = 3.0  # streamIdle in harness/samples/go/main.go


@pytest.fixture(scope="module")
def goleaks_binary():
    """The goleaks binary, built from source (skips when Go is not installed)."""
    if go_version() is None:
        pytest.skip("Go is not installed: the Go sample cannot be built (see docs/patterns.md)")
    return build_go_sample()


class GoSample:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port

    def profile(self) -> str:
        return requests.get(self.url + "/debug/pprof/goroutine?debug=1", timeout=5).text

    def goroutines(self) -> int:
        """The total from pprof's goroutine profile (what `pprof:goroutine` samples)."""
        match = re.search(r"goroutine profile: total (\d+)", self.profile())
        assert match
        return int(match.group(1))

    def goroutines_in(self, function: str) -> int:
        """Goroutines whose stack passes through ``function`` (pprof debug=1 groups)."""
        groups = self.profile().split("\n", 1)[1].split("\n\n")  # after "goroutine profile:"
        return sum(int(group.split(" ", 1)[0]) for group in groups
                   if function in group and group[:1].isdigit())

    def fds(self) -> int:
        text = requests.get(self.url + "/metrics", timeout=5).text
        return int(re.search(r"^process_open_fds (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture
def start_go(goleaks_binary, tmp_path) -> Iterator:
    """``start_go(variant, upstream_url)``: the real goleaks process, stopped at the end."""
    started: list[ManagedProcess] = []

    def start(variant: str, upstream: str) -> GoSample:
        port = free_port()
        argv = [str(goleaks_binary), "-addr", f"127.0.0.1:{port}", "-variant", variant,
                "--upstream", upstream]
        proc = ManagedProcess(f"goleaks-{variant}", argv, log_dir=tmp_path).start()
        started.append(proc)
        sample = GoSample(port)

        def healthy() -> bool:
            try:
                return requests.get(sample.url + "/healthz", timeout=1).text == "ok"
            except requests.RequestException:
                return False

        assert wait_until(healthy, 10.0), proc.tail()
        return sample

    yield start
    for proc in started:
        proc.stop(grace=3.0)


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_upstream_errors_leak_bodies_in_leaky(start_sample, toxiproxy, start_go, variant):
    """3N calls, N upstream 503s: leaky keeps >= 2N goroutines and >= N FDs; fixed a few."""
    upstream = start_sample("upstream", "leaky")  # every third /item is a 503
    up = toxiproxy.proxy("up", upstream.port)
    go = start_go(variant, f"http://127.0.0.1:{up}")
    # baselines at rest: the health check's connection (a goroutine and an FD) may still be
    # open a moment after it answered; counted in the baseline it ate the whole margin once
    # (19 FDs where N = 20 were pinned). Each of the N 503s pins exactly one upstream
    # connection in leaky (one FD, a readLoop and a writeLoop goroutine), so the leaky
    # bounds are exact counts with no slack needed, once both readings are at rest.
    before, fds_before = settled(go.goroutines), settled(go.fds)
    with requests.Session() as http:
        statuses = [http.get(f"{go.url}/api/item/{i}", timeout=5).status_code
                    for i in range(3 * N)]
    after, fds_after = settled(go.goroutines), settled(go.fds)
    print(f"{variant}: 502s={statuses.count(502)} goroutines {before}->{after} "
          f"fds {fds_before}->{fds_after}")
    assert statuses.count(502) == N
    if variant == "leaky":
        assert after - before >= 2 * N  # readLoop + writeLoop per pinned connection
        assert fds_after - fds_before >= N
        assert go.goroutines_in("net/http.(*persistConn).readLoop") >= N
    else:
        assert after - before <= 4 and fds_after - fds_before <= 3


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_vanished_stream_clients_park_goroutines_in_leaky(start_go, variant):
    """N stream clients that go silent: leaky parks N handler goroutines; fixed none."""
    go = start_go(variant, "http://127.0.0.1:1")
    # at rest: the health check's connection goroutine, still there a moment after it
    # answered, once made the baseline one too high (total 4->23 with N = 20 parked)
    before = settled(go.goroutines)
    held: list[socket.socket | BufferedReader] = []
    try:
        for i in range(N):
            sock = socket.create_connection(("127.0.0.1", go.port), timeout=5)
            held.append(sock)  # a vanished peer: open and silent until the test ends
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            # the reader holds the fd open past sock.close(): closed first, explicitly
            reader = sock.makefile("rb")
            held.append(reader)
            while reader.readline() not in (b"\r\n", b""):
                pass
            sock.sendall(b"ping %d\n" % i)
            assert reader.readline() == b"ack ping %d\n" % i
        during = go.goroutines_in("main.(*server).stream")
        time.sleep(STREAM_IDLE + 1.5)
        after, parked = go.goroutines(), go.goroutines_in("main.(*server).stream")
    finally:
        for handle in reversed(held):
            handle.close()
    print(f"{variant}: stream goroutines during={during} after idle={parked} "
          f"total {before}->{after}")
    assert during == N
    if variant == "leaky":
        assert parked == N and after - before >= N
    else:
        assert parked == 0 and after - before <= 2
