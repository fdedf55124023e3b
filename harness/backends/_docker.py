"""The Docker SDK boundary: every call to the engine, and the parsing of its stats payloads.

Nothing else in the harness imports ``docker``. Engine errors become ``EnvironmentFailure``
subclasses here (``raise ... from exc``); a stats read that fails mid-run is ``None`` (the
sampler's "cannot read right now"), never an exception.

Stats come from ``GET /containers/{id}/stats?stream=false&one-shot=true`` (one sample, no
1 s wait for ``precpu_stats``): CPU is computed from two consecutive reads of our own.

- ``docker:pids``: ``pids_stats.current``, the tasks (threads) in the container's cgroup.
- ``docker:memory``: ``memory_stats.usage`` minus the inactive page cache
  (cgroup v2 ``stats.inactive_file``, v1 ``stats.total_inactive_file``), as ``docker stats``.
- ``docker:cpu``: percent of one CPU (``docker stats`` CPU %), from the deltas of
  ``cpu_stats.cpu_usage.total_usage`` and ``cpu_stats.system_cpu_usage`` times online CPUs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from harness.errors import EnvironmentFailure

DOCKER_STATS = ("pids", "memory", "cpu")
MIN_API_VERSION = "1.41"  # Docker 20.10: stats one-shot
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
            client = docker.from_env()
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


class ContainerStats:
    """One stats read per container per tick, shared by its pids/memory/cpu sources."""

    def __init__(self, engine: DockerEngine, container: ContainerLike, max_age: float = 0.5):
        self.engine = engine
        self.container = container
        self.max_age = max_age
        self._lock = threading.Lock()
        self._at = 0.0
        self._current: dict[str, Any] | None = None
        self._previous: dict[str, Any] | None = None

    def latest(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(current, previous)`` payloads; reads the engine when the cache is stale."""
        with self._lock:
            now = time.monotonic()
            if self._current is None or now - self._at >= self.max_age:
                data = self.engine.stats(self.container)
                self._at = now
                if data is not None:
                    self._previous, self._current = self._current, data
                else:
                    self._current = None
            return self._current, self._previous


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
        return cpu_percent(current, previous)


__all__ = [
    "DOCKER_STATS",
    "ContainerLike",
    "ContainerStats",
    "DockerEngine",
    "DockerError",
    "DockerStatSource",
    "DockerUnavailable",
    "cpu_percent",
    "memory_of",
    "pids_of",
    "published_port",
]
