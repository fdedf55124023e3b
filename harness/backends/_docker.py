"""The Docker SDK boundary: every call to the engine, and the parsing of its stats payloads.

Nothing else in the harness imports ``docker``. Engine errors become ``EnvironmentFailure``
subclasses here (``raise ... from exc``); a stats read that fails mid-run is ``None`` (the
sampler's "cannot read right now"), never an exception.

Stats come from one streaming ``GET /containers/{id}/stats?stream=true`` per container, read
by a thread of its own (``ContainerStats``): the engine pushes a payload per container every
collector tick (1 s), and the sampler reads the latest one without waiting. A request per
read cannot keep a 1 s tick: each one waits for the engine's next collector tick (measured
0.006, 1.003, 1.002, 1.003 s back to back), so three stats of five containers read one after
the other took seconds per tick. A payload older than ``stale_after`` reads as None.

- ``docker:pids``: ``pids_stats.current``, the tasks (threads) in the container's cgroup.
- ``docker:memory``: ``memory_stats.usage`` minus the inactive page cache
  (cgroup v2 ``stats.inactive_file``, v1 ``stats.total_inactive_file``), as ``docker stats``.
- ``docker:cpu``: percent of one CPU (``docker stats`` CPU %), from the deltas of
  ``cpu_stats.cpu_usage.total_usage`` and ``cpu_stats.system_cpu_usage`` times online CPUs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from harness.errors import EnvironmentFailure

DOCKER_STATS = ("pids", "memory", "cpu")
MIN_API_VERSION = "1.41"  # Docker 20.10
MAX_POOL_SIZE = 64  # one pooled connection per stats stream, plus the calls of the run
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class DockerUnavailable(EnvironmentFailure):
    """No Docker engine answers (no socket, daemon down, permission denied)."""


class DockerError(EnvironmentFailure):
    """The engine refused a request, or a container the run needs is missing."""


class ContainerLike(Protocol):
    """The part of ``docker.models.containers.Container`` the harness uses."""

    id: str
    name: str
    status: str
    attrs: dict[str, Any]
    labels: dict[str, str]
    ports: dict[str, Any]

    def reload(self) -> None: ...
    def stats(self, **kwargs: Any) -> Any: ...
    def kill(self, signal: str | int | None = None) -> None: ...
    def pause(self) -> None: ...
    def unpause(self) -> None: ...
    def start(self, **kwargs: Any) -> None: ...


class StatsStream(Protocol):
    """An open stats stream of one container: payloads as they come, closable from any thread."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None: ...


class ContainersLike(Protocol):
    def list(self, **kwargs: Any) -> list[Any]: ...


class ClientLike(Protocol):
    """The part of ``docker.DockerClient`` the harness uses."""

    containers: ContainersLike

    def version(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


def _docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.RequestException)


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What reading or closing a stats stream raises when the connection breaks."""
    import urllib3.exceptions

    return (*_docker_errors(), urllib3.exceptions.HTTPError, OSError, ValueError,
            AttributeError)


# ---------------------------------------------------------------------------- parsing


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def pids_of(stats: Mapping[str, Any]) -> float | None:
    """``pids_stats.current`` (absent for a stopped container or without the pids cgroup)."""
    return _number(_get(stats, "pids_stats", "current"))


def memory_of(stats: Mapping[str, Any]) -> float | None:
    """Usage minus inactive page cache, in bytes: what ``docker stats`` shows as MEM USAGE."""
    usage = _number(_get(stats, "memory_stats", "usage"))
    if usage is None:
        return None
    detail = _get(stats, "memory_stats", "stats") or {}
    # cgroup v1 names it total_inactive_file (hierarchical); v2 names it inactive_file
    for key in ("total_inactive_file", "inactive_file"):
        cache = _number(detail.get(key)) if isinstance(detail, Mapping) else None
        if cache is not None and cache < usage:
            return usage - cache
    return usage


def _cpu_point(stats: Mapping[str, Any], which: str = "cpu_stats") -> tuple[float, float] | None:
    total = _number(_get(stats, which, "cpu_usage", "total_usage"))
    system = _number(_get(stats, which, "system_cpu_usage"))
    if total is None or system is None or system == 0:
        return None
    return total, system


def _online_cpus(stats: Mapping[str, Any]) -> int:
    online = _number(_get(stats, "cpu_stats", "online_cpus"))
    if online:
        return int(online)
    percpu = _get(stats, "cpu_stats", "cpu_usage", "percpu_usage")  # cgroup v1 only
    return len(percpu) if isinstance(percpu, list) and percpu else 1


def cpu_percent(stats: Mapping[str, Any], previous: Mapping[str, Any] | None) -> float | None:
    """CPU % (100 = one core busy) between ``previous`` (or ``precpu_stats``) and ``stats``."""
    now = _cpu_point(stats)
    before = _cpu_point(previous) if previous is not None else _cpu_point(stats, "precpu_stats")
    if now is None or before is None:
        return None
    cpu_delta, system_delta = now[0] - before[0], now[1] - before[1]
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return cpu_delta / system_delta * _online_cpus(stats) * 100.0


def published_port(container: ContainerLike, port: int, proto: str = "tcp") -> int | None:
    """The host port a container port is published on (``ports['8080/tcp'][0].HostPort``)."""
    bindings = (container.ports or {}).get(f"{port}/{proto}") or []
    for binding in bindings:
        host_port = binding.get("HostPort") if isinstance(binding, Mapping) else None
        if host_port:
            return int(host_port)
    return None


# ---------------------------------------------------------------------------- engine


class DockerEngine:
    """One connection to the engine; every SDK call of the harness goes through here."""

    def __init__(self, client: ClientLike) -> None:
        self.client = client

    @classmethod
    def from_env(cls) -> DockerEngine:
        """Connect like the docker CLI (``DOCKER_HOST``, ``/var/run/docker.sock``)."""
        import docker

        # probe with a fixed API version (no request in the constructor) so the client can
        # be closed when the engine is missing; then let the SDK negotiate the version
        probe = docker.from_env(version=MIN_API_VERSION)
        try:
            probe.version()
            client = docker.from_env(max_pool_size=MAX_POOL_SIZE)
        except _docker_errors() as exc:
            raise DockerUnavailable(
                f"no Docker engine: {exc} (is dockerd running and DOCKER_HOST right? "
                "the compose backend needs the engine; use --backend attach otherwise)"
            ) from exc
        finally:
            probe.close()
        return cls(client)

    def version(self) -> str:
        """The engine's version string (``Version`` of ``GET /version``)."""
        try:
            return str(self.client.version().get("Version", "unknown"))
        except _docker_errors() as exc:
            raise DockerUnavailable(f"no Docker engine: {exc}") from exc

    def service_container(self, project: str, service: str) -> ContainerLike:
        """The (first) container of a compose service, by compose's labels."""
        filters = {"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]}
        try:
            found = self.client.containers.list(all=True, filters=filters)
        except _docker_errors() as exc:
            raise DockerError(f"docker: cannot list containers of {project}/{service}: {exc}") \
                from exc
        if not found:
            raise DockerError(
                f"docker: compose service {service!r} has no container in project {project!r} "
                "(is the stack up? is HARNESS_COMPOSE_PROJECT right?)"
            )
        running = [c for c in found if c.status == "running"]
        chosen: ContainerLike = sorted(running or found, key=lambda c: c.name)[0]
        return chosen

    def stats(self, container: ContainerLike) -> dict[str, Any] | None:
        """One stats payload, or None when the engine cannot give one right now."""
        try:
            data = container.stats(stream=False, one_shot=True)
        except _docker_errors():
            return None
        return data if isinstance(data, dict) else None

    def open_stats(self, container: ContainerLike) -> StatsStream:
        """``GET /containers/{id}/stats?stream=true``: a payload per engine tick until closed."""
        api = getattr(self.client, "api", None)
        if api is None:
            raise DockerError("docker: this client cannot stream stats")
        try:
            response = api._get(api._url("/containers/{0}/stats", container.id),
                                params={"stream": True}, stream=True)
        except _docker_errors() as exc:
            raise DockerError(f"docker stats {container.name}: {exc}") from exc
        stream = _HttpStatsStream(api, response)
        if response.status_code >= 400:
            stream.close()
            raise DockerError(f"docker stats {container.name}: HTTP {response.status_code}")
        return stream

    def state(self, container: ContainerLike) -> tuple[str, int | None]:
        """``(status, exit code)`` fresh from the engine; ``('removed', None)`` if gone."""
        import docker.errors

        try:
            container.reload()
        except docker.errors.NotFound:
            return "removed", None
        except _docker_errors():
            return "unknown", None
        code = _get(container.attrs, "State", "ExitCode")
        return container.status, int(code) if isinstance(code, int) else None

    def _act(self, what: str, container: ContainerLike, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except _docker_errors() as exc:
            raise DockerError(f"docker {what} {container.name}: {exc}") from exc

    def pause(self, container: ContainerLike) -> None:
        self._act("pause", container, container.pause)

    def unpause(self, container: ContainerLike) -> None:
        self._act("unpause", container, container.unpause)

    def kill(self, container: ContainerLike, signal: str = "SIGKILL") -> None:
        self._act("kill", container, container.kill, signal)

    def start(self, container: ContainerLike) -> None:
        self._act("start", container, container.start)

    def close(self) -> None:
        try:
            self.client.close()
        except _docker_errors():  # pragma: no cover - closing a pool
            pass


class _HttpStatsStream:
    """A streaming stats response of the SDK's low-level client, closable from another thread.

    ``close()`` shuts the socket down first: that wakes the reader blocked in ``recv``
    (closing the file descriptor alone does not), then releases the response.
    """

    def __init__(self, api: Any, response: Any) -> None:
        self._api = api
        self._response = response
        self._closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for payload in self._api._stream_helper(self._response, decode=True):
                if isinstance(payload, dict):
                    yield payload
        except _stream_errors():
            if not self._closed:
                raise
            return

    def _socket(self) -> socket.socket | None:
        try:
            raw = self._response.raw._fp.fp.raw  # http.client's SocketIO over the socket
        except AttributeError:
            return None
        sock = getattr(raw, "_sock", raw)
        return sock if isinstance(sock, socket.socket) else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(*_stream_errors()):
            self._response.close()


class ContainerStats:
    """The latest stats payloads of one container, kept fresh by a streaming reader thread.

    ``start()`` opens the engine's stats stream in a thread; every payload it pushes (one a
    collector tick) replaces the current one, so pids, memory and cpu of every container are
    read without a request per tick. The stream reopens when it ends (a container killed and
    started again); ``close()`` stops the thread and closes the stream.
    """

    def __init__(self, engine: DockerEngine, container: ContainerLike, *,
                 stale_after: float = 3.0, retry: float = 0.5) -> None:
        self.engine = engine
        self.container = container
        self.stale_after = stale_after
        self.retry = retry
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: StatsStream | None = None
        self._thread: threading.Thread | None = None
        self._at = 0.0
        self._current: dict[str, Any] | None = None
        self._previous: dict[str, Any] | None = None
        self.payloads = 0  # received so far (for tests and the report of a run)

    def start(self) -> ContainerStats:
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, daemon=True,
                                            name=f"docker-stats-{self.container.name}")
            self._thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                stream = self.engine.open_stats(self.container)
            except DockerError:
                self._stop.wait(self.retry)
                continue
            with self._lock:
                if self._stop.is_set():
                    stream.close()
                    return
                self._stream = stream
            try:
                for payload in stream:
                    with self._lock:
                        self._previous, self._current = self._current, payload
                        self._at = time.monotonic()
                        self.payloads += 1
            except _stream_errors():  # a broken stream is reopened below, never fatal
                pass
            finally:
                with self._lock:
                    self._stream = None
                stream.close()
            self._stop.wait(self.retry)

    def latest(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(current, previous)`` payloads; ``(None, None)`` when none is fresh."""
        with self._lock:
            if self._current is None or time.monotonic() - self._at > self.stale_after:
                return None, None
            return self._current, self._previous

    def close(self) -> None:
        """Stop the reader and close its stream (idempotent)."""
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class DockerStatSource:
    """``docker:pids|memory|cpu`` of one container, as a MetricSource."""

    def __init__(self, stats: ContainerStats, stat: str) -> None:
        if stat not in DOCKER_STATS:
            raise ValueError(f"unknown docker stat {stat!r}; known: {', '.join(DOCKER_STATS)}")
        self.stats = stats
        self.stat = stat
        self.spec = f"docker:{stat}"

    def read(self) -> float | None:
        current, previous = self.stats.latest()
        if current is None:
            return None
        if self.stat == "pids":
            return pids_of(current)
        if self.stat == "memory":
            return memory_of(current)
        # a streamed payload carries the previous tick in precpu_stats
        return cpu_percent(current, None) if _cpu_point(current, "precpu_stats") \
            else cpu_percent(current, previous)


__all__ = [
    "DOCKER_STATS",
    "ContainerLike",
    "ContainerStats",
    "DockerEngine",
    "DockerError",
    "DockerStatSource",
    "DockerUnavailable",
    "StatsStream",
    "cpu_percent",
    "memory_of",
    "pids_of",
    "published_port",
]
