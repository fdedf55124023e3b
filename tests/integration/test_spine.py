"""The spine with real parts: toxiproxy-server, Locust, the sampler, the local backend."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from harness.chaos.toxiproxy import ToxiproxyClient
from harness.errors import ToxiproxyError
from harness.run import RunOptions, run_scenario
from harness.scenario import Fault, scenario_from_dict
from harness.testing import ManagedProcess, free_port, wait_until
from harness.tools import find_toxiproxy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def toxiproxy(tmp_path: Path):
    tool = find_toxiproxy()
    if tool is None:
        pytest.skip("toxiproxy-server not installed (run `harness setup`)")
    port = free_port()
    proc = ManagedProcess("toxiproxy", [str(tool.path), "-host", "127.0.0.1", "-port", str(port)],
                          log_dir=tmp_path).start()
    client = ToxiproxyClient("127.0.0.1", port, timeout=3.0)
    assert wait_until(client.ping, timeout=10)
    yield client
    proc.stop()


def test_adapter_applies_and_clears_every_fault(toxiproxy: ToxiproxyClient):
    """Every fault type can be added; clear() leaves no toxic and no proxy behind."""
    toxiproxy.create_proxy("front", f"127.0.0.1:{free_port()}", "127.0.0.1:9")
    faults = [
        Fault(proxy="front", type="latency", attributes={"latency": 100, "jitter": 5}),
        Fault(proxy="front", type="bandwidth", stream="upstream", attributes={"rate": 10}),
        Fault(proxy="front", type="slow_close", attributes={"delay": 10}),
        Fault(proxy="front", type="timeout", stream="upstream", attributes={"timeout": 0}),
        Fault(proxy="front", type="reset_peer", attributes={"timeout": 0}, toxicity=0.5),
        Fault(proxy="front", type="slicer", stream="upstream",
              attributes={"average_size": 8, "delay": 10}),
        Fault(proxy="front", type="limit_data", attributes={"bytes": 100}),
    ]
    for i, fault in enumerate(faults):
        toxiproxy.add_fault("front", fault, name=f"f{i}")
    assert len(toxiproxy.toxics("front")) == len(faults)
    toxiproxy.add_fault("front", Fault(proxy="front", type="down"))
    assert toxiproxy.proxies()["front"]["enabled"] is False
    assert toxiproxy.clear() == []
    assert toxiproxy.proxies() == {}


def test_adapter_maps_api_errors(toxiproxy: ToxiproxyClient):
    """API errors become ToxiproxyError naming what was attempted."""
    with pytest.raises(ToxiproxyError, match="remove toxic 'x' from 'nope': not found"):
        toxiproxy.remove_fault("nope", "x")


def test_adapter_times_out_on_a_silent_api():
    """A Toxiproxy API that accepts but never answers fails within the timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = ToxiproxyClient("127.0.0.1", server.getsockname()[1], timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(ToxiproxyError, match="no answer"):
            client.version()
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()
    assert time.monotonic() - started < 3


def test_a_toxic_change_held_by_a_peer_that_does_not_read_says_why(toxiproxy: ToxiproxyClient):
    """Toxiproxy waits for each connection's pending write before it changes a toxic: with a
    downstream peer that does not read, adding a downstream toxic goes unanswered. The
    error says why; once the peer reads, the server applies the toxic after all, and
    clear() removes it (nothing left behind)."""
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen()
    stop = threading.Event()

    def pour() -> None:  # the upstream writes for as long as the test runs
        conn = upstream.accept()[0]
        chunk = b"x" * 65536
        with conn:
            while not stop.is_set():
                try:
                    conn.sendall(chunk)
                except OSError:
                    return

    threading.Thread(target=pour, daemon=True).start()
    client = ToxiproxyClient("127.0.0.1", toxiproxy.port, timeout=1.0)
    listen = f"127.0.0.1:{free_port()}"
    client.create_proxy("blob", listen, f"127.0.0.1:{upstream.getsockname()[1]}")
    peer = socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1])), timeout=5)
    drained = threading.Event()
    try:
        time.sleep(1.0)  # the peer reads nothing: every buffer on the way fills up
        fault = Fault(proxy="blob", type="latency", attributes={"latency": 10})
        with pytest.raises(ToxiproxyError, match=r"no answer .* within 1s .*toxiproxy#412"):
            client.add_fault("blob", fault, name="late")
        assert client.active_toxics == {} and client.unanswered == {("blob", "late")}

        def drain() -> None:
            while not drained.is_set():
                try:
                    peer.recv(1 << 20)
                except OSError:
                    return

        def applied() -> bool:  # the list waits on the same lock: unanswered until then
            try:
                return [t["name"] for t in client.toxics("blob")] == ["late"]
            except ToxiproxyError:
                return False

        threading.Thread(target=drain, daemon=True).start()
        assert wait_until(applied, timeout=10), "the unanswered add was never applied"
        assert client.clear() == []
        assert client.proxies() == {} and client.unanswered == set()
    finally:
        stop.set()
        drained.set()
        peer.close()
        upstream.close()


def test_latency_toxic_shows_in_measured_p99(tmp_path: Path):
    """A 100 ms latency toxic on a real HTTP target shows up in the P99 Locust measured."""
    if find_toxiproxy() is None:
        pytest.skip("toxiproxy-server not installed (run `harness setup`)")
    scenario = scenario_from_dict({
        "name": "latency-probe",
        "target": {"name": "api", "sample": "healthy"},
        "proxies": [{"name": "front", "upstream": "api"}],
        "load": {"user": "HttpApiUser", "users": 5, "spawn_rate": 5},
        "phases": [
            {"name": "clean", "duration": "6s"},
            {"name": "slow", "duration": "6s", "faults": [
                {"proxy": "front", "type": "latency", "attributes": {"latency": 100}}]},
        ],
        "thresholds": {"p99_ms": {"max": 10000}},
    })
    outcome = run_scenario(scenario, RunOptions(out=tmp_path / "run", quiet=True))
    p99 = {c.phases[0]: c.observed for c in outcome.summary.checks if c.metric == "p99_ms"}
    assert p99["clean"] is not None and p99["clean"] < 60, p99
    assert p99["slow"] is not None and 100 <= p99["slow"] < 250, p99
    samples = (tmp_path / "run" / "samples.csv").read_text()
    assert "api,tasks" in samples and "toxiproxy,goroutines" in samples
