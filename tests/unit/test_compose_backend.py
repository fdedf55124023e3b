"""The compose backend at its Docker boundary: what it asks the engine and how it reads stats.

The fake client implements only the SDK methods the harness calls; the stats payloads are
shaped as ``GET /containers/{id}/stats?stream=false`` returns them (cgroup v1 and v2).
"""

from __future__ import annotations

import copy
import gc
import queue
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import (
    ContainerStats,
    DockerEngine,
    DockerError,
    DockerStatSource,
    DockerUnavailable,
    cpu_percent,
    memory_of,
    pids_of,
    published_port,
)
from harness.backends.compose import (
    ComposeBackend,
    ComposeFailed,
    compose_services,
    plan_services,
)
from harness.errors import EnvironmentFailure, InputError, ScenarioError
from harness.runfolder import EventLog
from harness.scenario import ComposeSettings, ContainerFault, scenario_from_dict

# cgroup v2, one-shot read (precpu_stats empty), Docker 24+
STATS_V2: dict[str, Any] = {
    "read": "2024-05-02T10:15:01.123456789Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {"current": 7, "limit": 18446744073709551615},
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "read", "value": 4096}], "io_serviced_recursive": None},
    "num_procs": 0,
    "storage_stats": {},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 2_000_000_000, "usage_in_kernelmode": 400_000_000,
                      "usage_in_usermode": 1_600_000_000},
        "system_cpu_usage": 900_000_000_000_000,
        "online_cpus": 4,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 52_428_800,
        "stats": {"active_anon": 0, "active_file": 2_097_152, "anon": 31_457_280,
                  "file": 15_728_640, "inactive_anon": 31_457_280,
                  "inactive_file": 10_485_760, "kernel_stack": 114_688, "shmem": 0},
        "limit": 8_223_416_320,
    },
    "name": "/soak-healthy-1",
    "id": "3f2a9c0d1e7b",
    "networks": {"eth0": {"rx_bytes": 5338, "rx_packets": 36, "tx_bytes": 648,
                          "tx_packets": 8, "rx_errors": 0, "tx_errors": 0}},
}

# cgroup v1, streaming-style read (precpu_stats filled, percpu_usage present)
STATS_V1: dict[str, Any] = {
    "read": "2021-03-11T09:12:03.456789012Z",
    "preread": "2021-03-11T09:12:02.455123456Z",
    "pids_stats": {"current": 12},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 1_100_000_000, "percpu_usage": [600_000_000, 500_000_000],
                      "usage_in_kernelmode": 100_000_000, "usage_in_usermode": 900_000_000},
        "system_cpu_usage": 20_002_000_000_000,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 1_000_000_000, "percpu_usage": [550_000_000, 450_000_000],
                      "usage_in_kernelmode": 90_000_000, "usage_in_usermode": 810_000_000},
        "system_cpu_usage": 20_000_000_000_000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 73_728_000, "max_usage": 80_000_000, "limit": 2_092_216_320,
        "stats": {"cache": 20_480_000, "inactive_file": 16_384_000, "rss": 50_000_000,
                  "total_cache": 20_480_000, "total_inactive_file": 16_384_000,
                  "total_rss": 50_000_000, "hierarchical_memory_limit": 9223372036854771712},
    },
    "name": "/soak-gateway-1",
    "id": "9e1c0b7a2d44",
}

# a stopped container: the engine answers with empty sections
STATS_STOPPED: dict[str, Any] = {
    "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {}, "blkio_stats": {}, "num_procs": 0, "storage_stats": {},
    "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "memory_stats": {}, "name": "/soak-healthy-1", "id": "3f2a9c0d1e7b",
}


class FakeContainer:
    """The Container methods the harness calls, recording each call."""

    def __init__(self, name: str, service: str, *, project: str = "soak",
                 ports: dict[str, Any] | None = None, status: str = "running",
                 payloads: list[dict[str, Any]] | None = None) -> None:
        self.id, self.name, self.status = name + "-id", name, status
        self.labels = {"com.docker.compose.project": project,
                       "com.docker.compose.service": service}
        self.ports = ports or {}
        self.attrs: dict[str, Any] = {"State": {"ExitCode": 0}}
        self.payloads = list(payloads or [STATS_V2])
        self.calls: list[tuple[str, Any]] = []

    def stats(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("stats", kwargs))
        return self.payloads.pop(0) if len(self.payloads) > 1 else self.payloads[0]

    def reload(self) -> None:
        self.calls.append(("reload", None))

    def kill(self, signal: str | int | None = None) -> None:
        self.calls.append(("kill", signal))

    def pause(self) -> None:
        self.calls.append(("pause", None))

    def unpause(self) -> None:
        self.calls.append(("unpause", None))

    def start(self, **kwargs: Any) -> None:
        self.calls.append(("start", kwargs))


class FakeContainers:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.items = containers
        self.queries: list[dict[str, Any]] = []

    def list(self, **kwargs: Any) -> list[FakeContainer]:
        self.queries.append(kwargs)
        labels = set(kwargs.get("filters", {}).get("label", []))
        return [c for c in self.items
                if labels <= {f"{k}={v}" for k, v in c.labels.items()}]


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = FakeContainers(containers)
        self.closed = False

    def version(self) -> dict[str, Any]:
        return {"Version": "27.3.1", "ApiVersion": "1.47"}

    def close(self) -> None:
        self.closed = True


SCENARIO = {
    "name": "compose-t",
    "target": {"name": "api", "sample": "healthy"},
    "proxies": [{"name": "front", "upstream": "api"}],
    "load": {"user": "HttpApiUser"},
    "phases": [{"name": "warmup", "duration": "5s"}],
}


def scenario(**changes: Any) -> Any:
    data = copy.deepcopy(SCENARIO)
    data.update(changes)
    return scenario_from_dict(data)


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("payload", "expected"), [
    (STATS_V2, 7.0), (STATS_V1, 12.0), (STATS_STOPPED, None)])
def test_pids_read_from_pids_stats_current(payload: dict[str, Any], expected: float | None):
    """docker:pids is pids_stats.current, None for a stopped container."""
    assert pids_of(payload) == expected


@pytest.mark.parametrize(("payload", "expected"), [
    (STATS_V2, 52_428_800 - 10_485_760),   # v2: usage - inactive_file
    (STATS_V1, 73_728_000 - 16_384_000),   # v1: usage - total_inactive_file
    (STATS_STOPPED, None),
])
def test_memory_is_usage_minus_inactive_file(payload: dict[str, Any], expected: float | None):
    """docker:memory subtracts the inactive page cache as `docker stats` does (v1 and v2)."""
    assert memory_of(payload) == expected


def test_memory_without_cache_detail_is_raw_usage():
    """A payload without memory_stats.stats gives the raw usage rather than nothing."""
    assert memory_of({"memory_stats": {"usage": 1000}}) == 1000.0


def test_cpu_from_precpu_stats_on_cgroup_v1():
    """CPU % uses precpu_stats and percpu_usage's length when online_cpus is absent."""
    # 100 ms of CPU over 2 s of system time on 2 CPUs: 10 % of one core
    assert cpu_percent(STATS_V1, None) == pytest.approx(10.0)


def test_cpu_from_two_one_shot_reads():
    """One-shot reads have no precpu: CPU % comes from the previous read of our own."""
    later = copy.deepcopy(STATS_V2)
    later["cpu_stats"]["cpu_usage"]["total_usage"] += 500_000_000
    later["cpu_stats"]["system_cpu_usage"] += 4_000_000_000
    assert cpu_percent(STATS_V2, None) is None
    assert cpu_percent(later, STATS_V2) == pytest.approx(50.0)  # 0.5/4 * 4 cpus


def test_published_port_reads_host_port_binding():
    """The host port comes from ports['8080/tcp'][0].HostPort; unpublished is None."""
    c = FakeContainer("x", "healthy", ports={"8080/tcp": [{"HostIp": "127.0.0.1",
                                                           "HostPort": "32771"}]})
    assert published_port(c, 8080) == 32771
    assert published_port(c, 8474) is None


# ---------------------------------------------------------------------------- engine


def test_missing_engine_is_environment_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No Docker engine becomes DockerUnavailable (exit 3) saying so, chained to the SDK error."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    with warnings.catch_warnings():
        # docker 7.x UnixHTTPConnection.connect leaks its socket when connect() fails
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(DockerUnavailable, match="no Docker engine") as info:
            DockerEngine.from_env()
        assert isinstance(info.value, EnvironmentFailure)
        assert info.value.__cause__ is not None
        del info  # its traceback holds the leaked socket
        gc.collect()


def test_service_container_asks_by_compose_labels():
    """Containers are found by compose's project and service labels, stopped ones included."""
    client = FakeClient([FakeContainer("soak-healthy-1", "healthy"),
                         FakeContainer("soak-toxiproxy-1", "toxiproxy")])
    found = DockerEngine(client).service_container("soak", "healthy")
    assert found.name == "soak-healthy-1"
    assert client.containers.queries == [{"all": True, "filters": {"label": [
        "com.docker.compose.project=soak", "com.docker.compose.service=healthy"]}}]


def test_service_without_container_names_service_and_project():
    """A service with no container is a DockerError naming both."""
    with pytest.raises(DockerError, match=r"'gateway'.*'soak'"):
        DockerEngine(FakeClient([])).service_container("soak", "gateway")


class FakeStream:
    """A stats stream fed by the test; iteration blocks like the engine's until fed or closed."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (payload := self.queue.get()) is not None:
            yield payload

    def close(self) -> None:
        self.closed = True
        self.queue.put(None)


class StreamingEngine(DockerEngine):
    """A DockerEngine whose open_stats hands out FakeStreams (and counts one-shot reads)."""

    def __init__(self, container: FakeContainer) -> None:
        super().__init__(FakeClient([container]))
        self.streams: list[FakeStream] = []
        self.opened = threading.Event()

    def open_stats(self, container: Any) -> FakeStream:
        stream = FakeStream()
        self.streams.append(stream)
        self.opened.set()
        return stream


def _wait(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def streaming() -> Iterator[tuple[StreamingEngine, ContainerStats]]:
    """A ContainerStats following a fake stream; closed afterwards."""
    container = FakeContainer("soak-healthy-1", "healthy")
    engine = StreamingEngine(container)
    stats = ContainerStats(engine, container, stale_after=60, retry=0.01)
    try:
        yield engine, stats.start()
    finally:
        stats.close()


def test_sources_read_the_latest_streamed_payload_without_a_request(
        streaming: tuple[StreamingEngine, ContainerStats]):
    """pids, memory and cpu read the stream's latest payload; no stats request per read."""
    engine, stats = streaming
    assert engine.opened.wait(5)
    sources = [DockerStatSource(stats, s) for s in ("pids", "memory", "cpu")]
    assert [s.read() for s in sources] == [None, None, None]  # nothing streamed yet
    engine.streams[0].queue.put(STATS_V1)
    assert _wait(lambda: stats.payloads == 1)
    assert [s.read() for s in sources] == [12.0, 73_728_000 - 16_384_000,
                                           pytest.approx(10.0)]  # cpu from precpu_stats
    assert stats.container.calls == []  # type: ignore[attr-defined]


def test_stale_payload_reads_as_nothing():
    """A payload older than stale_after reads as None: a stalled stream is never a level."""
    container = FakeContainer("c", "s")
    engine = StreamingEngine(container)
    stats = ContainerStats(engine, container, stale_after=0.05, retry=0.01).start()
    try:
        assert engine.opened.wait(5)
        engine.streams[0].queue.put(STATS_V2)
        assert _wait(lambda: stats.payloads == 1)
        time.sleep(0.1)
        assert DockerStatSource(stats, "pids").read() is None
    finally:
        stats.close()


def test_stream_reopened_when_it_ends(streaming: tuple[StreamingEngine, ContainerStats]):
    """A stream that ends (container killed and restarted) is opened again."""
    engine, stats = streaming
    assert engine.opened.wait(5)
    engine.streams[0].queue.put(None)
    assert _wait(lambda: len(engine.streams) >= 2)
    engine.streams[-1].queue.put(STATS_V2)
    assert _wait(lambda: DockerStatSource(stats, "pids").read() == 7.0)


def test_close_stops_the_reader_and_closes_its_stream():
    """close() wakes the blocked reader, closes the stream and ends the thread."""
    container = FakeContainer("c", "s")
    engine = StreamingEngine(container)
    stats = ContainerStats(engine, container).start()
    assert engine.opened.wait(5)
    stats.close()
    assert engine.streams[0].closed
    assert stats._thread is not None and not stats._thread.is_alive()


def test_unknown_docker_stat_rejected():
    """Only pids, memory and cpu are docker stats."""
    container = FakeContainer("c", "s")
    with pytest.raises(ValueError, match="unknown docker stat"):
        DockerStatSource(ContainerStats(DockerEngine(FakeClient([container])), container), "io")


# ---------------------------------------------------------------------------- backend


def test_plan_maps_sample_metrics_to_container_sources():
    """proc:* of a sample become prometheus/docker specs; the service defaults to the sample."""
    (plan,) = plan_services(scenario(), ComposeSettings())
    assert plan.service == "healthy" and plan.port == 8080
    assert plan.metrics == {"tasks": "prometheus:sample_tasks",
                            "fds": "prometheus:process_open_fds",
                            "rss": "prometheus:process_resident_memory_bytes",
                            "threads": "docker:pids"}


def test_plan_rejects_unknown_docker_stat_naming_field():
    """An unknown docker:<stat> fails before anything starts, naming the metric."""
    bad = scenario(target={"name": "api", "sample": "healthy", "metrics": {"io": "docker:io"}})
    with pytest.raises(ScenarioError, match=r"targets\[0\]\.metrics\.io: unknown docker stat"):
        plan_services(bad, ComposeSettings())


def test_settings_from_env_and_bad_env_named():
    """HARNESS_COMPOSE_* fill the settings; a bad one is an input error naming the variable."""
    env = {"HARNESS_COMPOSE_PROJECT": "nightly", "HARNESS_COMPOSE_MANAGE": "0",
           "HARNESS_COMPOSE_REACH": "network", "HARNESS_COMPOSE_SERVICES": "api=healthy"}
    settings = ComposeSettings.from_env(env)
    assert (settings.project, settings.manage, settings.reach) == ("nightly", False, "network")
    assert settings.services == {"api": "healthy"}
    with pytest.raises(ValueError, match="HARNESS_COMPOSE_REACH"):
        ComposeSettings.from_env({"HARNESS_COMPOSE_REACH": "everywhere"})


def test_backend_bad_env_is_input_error(monkeypatch: pytest.MonkeyPatch):
    """A malformed HARNESS_COMPOSE_* stops the run as invalid input (exit 2)."""
    monkeypatch.setenv("HARNESS_COMPOSE_PROJECT", "Not Valid")
    with pytest.raises(InputError, match="HARNESS_COMPOSE_PROJECT"):
        ComposeBackend(scenario())


class Recorder:
    """Stands in for subprocess.run of the docker CLI: records argv, answers rc."""

    def __init__(self, returncode: int = 0) -> None:
        self.argvs: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.argvs.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, "", "service healthy failed")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Any]:
    """A BackendContext whose event log is closed afterwards."""
    from harness.backends import BackendContext

    events = EventLog(tmp_path / "events.jsonl", 0.0)
    yield BackendContext(scenario=scenario(), run_dir=tmp_path, events=events)
    events.close()


def test_compose_up_failure_runs_down_and_raises(ctx: Any):
    """A failing `compose up --wait` raises ComposeFailed and still runs `compose down`."""
    runner = Recorder(returncode=1)
    backend = ComposeBackend(scenario(), ComposeSettings(project="p1", file="c.yaml"),
                             engine_factory=lambda: DockerEngine(FakeClient([])), run=runner)
    with pytest.raises(ComposeFailed, match="exited with 1"):
        backend.up(ctx)
    assert runner.argvs[0] == ["docker", "compose", "-f", "c.yaml", "-p", "p1", "up", "-d",
                               "--wait", "--wait-timeout", "180", "toxiproxy", "healthy"]
    assert runner.argvs[1][6:] == ["down", "--volumes", "--remove-orphans", "--timeout", "10"]
    problems = backend.down()
    assert any("exited with 1" in p for p in problems)  # the failed down is reported once
    assert backend.down() == []


def test_missing_engine_starts_nothing(ctx: Any):
    """Without an engine, up() fails before any docker compose command runs."""
    runner = Recorder()

    def no_engine() -> DockerEngine:
        raise DockerUnavailable("no Docker engine: test")

    backend = ComposeBackend(scenario(), ComposeSettings(), engine_factory=no_engine, run=runner)
    with pytest.raises(DockerUnavailable):
        backend.up(ctx)
    assert runner.argvs == []


def test_container_faults_pause_kill_and_undo():
    """pause/unpause and kill/start go to the target's container; down() unpauses."""
    container = FakeContainer("soak-healthy-1", "healthy")
    backend = ComposeBackend(scenario(), ComposeSettings(manage=False), run=Recorder())
    backend._engine = DockerEngine(FakeClient([container]))
    backend._containers["api"] = container
    backend.apply_container_fault(ContainerFault(target="api", action="kill", signal="SIGTERM"))
    backend.remove_container_fault(ContainerFault(target="api", action="kill"))
    backend.apply_container_fault(ContainerFault(target="api", action="pause"))
    assert backend.down() == []
    assert [c[0] for c in container.calls] == ["kill", "start", "pause", "unpause"]
    assert container.calls[0] == ("kill", "SIGTERM")


def test_exited_reports_a_stopped_container_once():
    """A target container that stopped on its own is reported once, with its exit code."""
    container = FakeContainer("soak-healthy-1", "healthy", status="exited")
    container.attrs = {"State": {"ExitCode": 137}}
    backend = ComposeBackend(scenario(), ComposeSettings(manage=False), run=Recorder())
    backend._engine = DockerEngine(FakeClient([container]))
    backend._containers["api"] = container
    (gone,) = backend.exited()
    assert (gone.name, gone.role, gone.returncode) == ("api", "target", 137)
    assert backend.exited() == []


GATEWAY = {
    "name": "gw-t",
    "targets": [{"name": "upstream", "sample": "upstream"},
                {"name": "gateway", "sample": "client_per_request", "variant": "fixed"}],
    "proxies": [{"name": "front", "upstream": "gateway"}, {"name": "up", "upstream": "upstream"}],
    "load": {"user": "GatewayUser"},
    "phases": [{"name": "warmup", "duration": "5s"}],
}


def test_gateway_target_runs_in_the_gateway_service_the_file_declares(tmp_path: Path):
    """A target whose sample is no service of the file runs in the service named after it."""
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  upstream: {}\n  gateway: {profiles: [gateway]}\n")
    plans = plan_services(scenario_from_dict(GATEWAY), ComposeSettings(),
                          compose_services(str(compose_file)))
    assert [(p.name, p.service) for p in plans] == [("upstream", "upstream"),
                                                      ("gateway", "gateway")]
    assert compose_services(str(tmp_path / "missing.yaml")) is None


def test_profile_of_started_services_named_in_compose_commands(tmp_path: Path):
    """`compose down` names the gateway profile, or it leaves the gateway's containers running."""
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  toxiproxy: {}\n  upstream: {profiles: [gateway]}\n"
                            "  gateway: {profiles: [gateway]}\n")
    backend = ComposeBackend(scenario_from_dict(GATEWAY),
                             ComposeSettings(file=str(compose_file)), run=Recorder())
    assert backend.compose_argv("down")[5:] == ["soak", "--profile", "gateway", "down"]


def test_compose_env_carries_the_scenario_variant_and_gateway_sample(tmp_path: Path):
    """`compose up` gets HARNESS_VARIANT and HARNESS_GATEWAY_SAMPLE from the scenario."""
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  upstream: {}\n  gateway: {}\n")
    runner = Recorder(returncode=1)
    backend = ComposeBackend(scenario_from_dict(GATEWAY),
                             ComposeSettings(file=str(compose_file)), run=runner)
    assert backend.compose_env() == {"HARNESS_VARIANT": "fixed",
                                     "HARNESS_GATEWAY_SAMPLE": "client_per_request"}


def test_killed_and_restarted_target_is_read_on_its_new_published_port(ctx: Any):
    """After a kill fault restarts the container, its /metrics is read on the new host port."""
    container = FakeContainer("soak-healthy-1", "healthy",
                              ports={"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32771"}]})
    backend = ComposeBackend(scenario(), ComposeSettings(manage=False), run=Recorder())
    backend._engine = StreamingEngine(container)
    backend._containers["api"] = container
    handle = backend._watch(backend.services[0], ctx)
    try:
        assert handle.sources["fds"]._source.url == "http://127.0.0.1:32771/metrics"
        backend.apply_container_fault(ContainerFault(target="api", action="kill"))
        container.ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32790"}]}
        backend.remove_container_fault(ContainerFault(target="api", action="kill"))
        assert handle.sources["fds"]._source.url == "http://127.0.0.1:32790/metrics"
        assert handle.evidence.current.url == "http://127.0.0.1:32790/debug/tasks"
    finally:
        assert backend.down() == []
