"""Attach and compose backends against a real toxiproxy-server on 127.0.0.1.

The attach backend talks to nothing but Toxiproxy and the targets; the compose backend's
Docker side is a fake client (no engine here), its Toxiproxy side is the real server.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import BackendContext, DockerEngine, DockerStatSource
from harness.backends.attach import AttachBackend
from harness.backends.compose import ComposeBackend
from harness.errors import ToxiproxyError
from harness.runfolder import EventLog
from harness.scenario import ComposeSettings, Fault, scenario_from_dict
from harness.testing import free_port, wait_until
from tests.unit.test_compose_backend import FakeClient, FakeContainer, FakeStream, Recorder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP echo server on a free loopback port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def roundtrip(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(b"ping")
        return conn.recv(16)


def scenario(api_port: int, echo_port: int, listens: list[int]) -> Any:
    names = [f"p{i}" for i in range(len(listens))]
    return scenario_from_dict({
        "name": "attach-it",
        "target": {"name": "api", "sample": "healthy"},
        "proxies": [{"name": n, "upstream": f"127.0.0.1:{echo_port}"} for n in names],
        "load": {"user": "HttpApiUser"},
        "phases": [{"name": "warmup", "duration": "5s"}],
        "attach": {
            "toxiproxy": f"http://127.0.0.1:{api_port}",
            "proxies": {n: {"listen": f"127.0.0.1:{p}", "bind": f"127.0.0.1:{p}"}
                        for n, p in zip(names, listens, strict=True)},
            "targets": {"api": {"metrics_url": f"http://127.0.0.1:{echo_port}/metrics"}},
            "timeout": "5s",
        },
    })


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Any]:
    events = EventLog(tmp_path / "events.jsonl", 0.0)
    yield lambda sc: BackendContext(scenario=sc, run_dir=tmp_path, events=events)
    events.close()


def test_attach_creates_proxies_and_down_removes_them(toxiproxy: Any, echo: int, ctx: Any):
    """Proxies carry traffic while attached; down() leaves no proxy and no toxic behind."""
    sc = scenario(toxiproxy.client.port, echo, [free_port(), free_port()])
    backend = AttachBackend(sc)
    topo = backend.up(ctx(sc))
    try:
        assert set(toxiproxy.client.proxies()) == {"p0", "p1"}
        assert roundtrip(*topo.proxies["p0"]) == b"ping"
        topo.toxiproxy.add_fault("p1", Fault(proxy="p1", type="latency",
                                             attributes={"latency": 10}))
        assert toxiproxy.client.toxics("p1")
        assert set(topo.targets["api"].sources) == {"tasks", "fds", "rss"}
    finally:
        assert backend.down() == []
    assert toxiproxy.client.proxies() == {}
    assert backend.down() == []  # idempotent


def test_attach_failed_up_cleans_what_it_created(toxiproxy: Any, echo: int, ctx: Any):
    """When the second proxy cannot listen, up() raises and the first proxy is gone too."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        sc = scenario(toxiproxy.client.port, echo, [free_port(), taken.getsockname()[1]])
        backend = AttachBackend(sc)
        with pytest.raises(ToxiproxyError):
            backend.up(ctx(sc))
        assert toxiproxy.client.proxies() == {}
        assert backend.down() == []
    finally:
        taken.close()


def test_attach_unreachable_toxiproxy_is_environment_failure(echo: int, ctx: Any):
    """An attach.toxiproxy URL nobody answers on fails with the URL and the field."""
    sc = scenario(free_port(), echo, [])
    with pytest.raises(ToxiproxyError, match=r"did not answer.*attach\.toxiproxy"):
        AttachBackend(sc).up(ctx(sc))


class FedEngine(DockerEngine):
    """An engine whose stats streams hand out each container's payload once, then wait."""

    def open_stats(self, container: Any) -> FakeStream:
        stream = FakeStream()
        stream.queue.put(container.payloads[0])
        return stream


def test_compose_backend_proxies_on_real_toxiproxy(toxiproxy: Any, echo: int, ctx: Any):
    """Compose up/down: proxies on the real server via published ports, docker stats sourced."""
    proxy_port = free_port()
    sc = scenario(toxiproxy.client.port, echo, [proxy_port])
    proxy_box = FakeContainer("soak-toxiproxy-1", "toxiproxy", ports={
        "8474/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(toxiproxy.client.port)}],
        f"{proxy_port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(proxy_port)}]})
    target_box = FakeContainer("soak-healthy-1", "healthy", ports={
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(echo)}]})
    runner = Recorder()
    settings = ComposeSettings(proxy_base_port=proxy_port, proxy_bind="127.0.0.1")
    backend = ComposeBackend(sc, settings, run=runner,
                             engine_factory=lambda: FedEngine(FakeClient([proxy_box,
                                                                           target_box])))
    topo = backend.up(ctx(sc))
    try:
        assert topo.proxies["p0"] == ("127.0.0.1", proxy_port)
        assert roundtrip(*topo.proxies["p0"]) == b"ping"
        threads = topo.targets["api"].sources["threads"]
        pids = topo.controls["toxiproxy"].sources["docker_pids"]
        assert isinstance(threads, DockerStatSource)
        # stats stream in on their own thread (one connection per container): the first
        # reading arrives a moment after up(); 10 s is far beyond the fake's instant answer
        assert wait_until(lambda: threads.read() == 7.0 and pids.read() == 7.0, 10.0)
    finally:
        assert backend.down() == []
    assert toxiproxy.client.proxies() == {}
    assert [a[6] for a in runner.argvs] == ["up", "down"]
