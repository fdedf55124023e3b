"""The compose backend: the topology of ``compose.yaml`` in containers, watched through Docker.

``up()`` runs ``docker compose -f FILE -p PROJECT up -d --wait <toxiproxy> <services>``
(unless ``HARNESS_COMPOSE_MANAGE=0``: the stack is already up, e.g. the harness runs as the
compose ``runner`` service), creates the proxies through the Toxiproxy API and reads each
target container's stats through the Docker SDK (``docker:pids|memory|cpu``). ``down()``
removes every toxic and proxy, undoes container faults, and runs ``docker compose down``
when it ran ``up``. Settings: ``harness.scenario._deploy.ComposeSettings`` (env
``HARNESS_COMPOSE_*``).

Where things are reached depends on ``reach``: ``published`` (the harness on the host:
Toxiproxy's API, proxy ports and target ports as published on 127.0.0.1) or ``network``
(the harness inside the compose network: service names and container ports).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial

import yaml

from harness._process import Role, wait_until
from harness.backends._base import (
    Backend,
    BackendContext,
    ProcessExit,
    TargetHandle,
    TargetPlan,
    Topology,
    all_planned,
)
from harness.backends._docker import (
    DOCKER_STATS,
    ContainerLike,
    ContainerStats,
    DockerEngine,
    DockerError,
    DockerStatSource,
    published_port,
)
from harness.backends.attach import TOXIPROXY_CONTROL, remote_equivalent
from harness.chaos.toxiproxy import ToxiproxyClient
from harness.errors import (
    EnvironmentFailure,
    HarnessError,
    InputError,
    ScenarioError,
    ToolMissing,
    ToxiproxyError,
)
from harness.events import EventKind
from harness.metrics.sources import evidence_source, make_source
from harness.samples import SAMPLES
from harness.scenario import HOST_PORT, ComposeSettings, ContainerFault, Scenario
from harness.typing import EvidenceSource, MetricSource

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class ComposeFailed(EnvironmentFailure):
    """``docker compose`` exited non-zero (a service unhealthy, an image missing...)."""


@dataclass(kw_only=True)
class ServicePlan(TargetPlan):
    """A target as a compose service: its service, port, and the sample's endpoint paths."""

    service: str
    port: int
    sample: str | None = None
    variant: str | None = None
    metrics_path: str | None = None
    pprof_path: str | None = None
    debug_path: str | None = None


def compose_services(path: str) -> dict[str, list[str]] | None:
    """Service name -> its profiles, for every service a compose file declares (None if the
    file cannot be read)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return None
    return {str(name): [str(p) for p in (spec or {}).get("profiles") or []]
            if isinstance(spec, dict | None) else [] for name, spec in services.items()}


def plan_services(scenario: Scenario, settings: ComposeSettings,
                  known: Collection[str] | None = None) -> list[ServicePlan]:
    """Each target's service and metrics (ScenarioError names an unknown docker stat).

    The service is ``HARNESS_COMPOSE_SERVICES``' choice, else the first of the target's
    sample name and its own name that the compose file declares (``known``): the
    ``gateway`` target of a gateway scenario runs in the ``gateway`` service, whichever
    gateway sample it names.
    """
    problems: list[str] = []
    plans: list[ServicePlan] = []
    for i, target in enumerate(scenario.all_targets):
        sample = SAMPLES[target.sample] if target.sample else None
        candidates = [c for c in (target.sample, target.name) if c]
        service = settings.services.get(target.name) or next(
            (c for c in candidates if known is None or c in known), candidates[0])
        declared = {**(sample.metrics if sample else {}), **target.metrics}
        if not declared:
            declared = {f"docker_{stat}": f"docker:{stat}" for stat in DOCKER_STATS}
        plan = ServicePlan(
            name=target.name, service=service, port=target.port or settings.target_port,
            sample=target.sample, variant=target.variant, metrics={},
            metrics_path=sample.metrics_path if sample else None,
            pprof_path=sample.pprof_path if sample else None,
            debug_path=sample.debug_path if sample else None,
            metrics_url=target.metrics_url, pprof_url=target.pprof_url,
            debug_url=target.debug_url,
        )
        has_prometheus = bool(plan.metrics_url or plan.metrics_path)
        for alias, spec in declared.items():
            mapped = remote_equivalent(spec, docker=True)
            if spec in ("proc:rss", "proc:rss:self") and not has_prometheus:
                mapped = "docker:memory"
            kind, _, stat = (mapped or "").partition(":")
            if kind == "docker" and stat not in DOCKER_STATS:
                problems.append(
                    f"targets[{i}].metrics.{alias}: unknown docker stat {stat!r}; "
                    f"known: {', '.join('docker:' + s for s in DOCKER_STATS)}"
                )
                continue
            missing = plan.take(alias, spec, mapped, metrics_url=has_prometheus,
                                pprof_url=bool(plan.pprof_url or plan.pprof_path))
            if missing:
                problems.append(f"targets[{i}].metrics.{alias}: {mapped} needs {missing}")
        plans.append(plan)
    return all_planned(scenario, plans, problems)


def _http_source(spec: str, plan: ServicePlan, base: str) -> MetricSource:
    """A target's prometheus / pprof source, its sample's paths under ``base``."""
    return make_source(spec, metrics_url=plan.metrics_url or _under(base, plan.metrics_path),
                       pprof_url=plan.pprof_url or _under(base, plan.pprof_path))


def _under(base: str, path: str | None) -> str | None:
    return base + path if path else None


class _Movable:
    """A target's HTTP metric source whose address can move (``rebase``), e.g. when a killed
    container is started again on a new published port."""

    def __init__(self, build: Callable[[str], MetricSource], base: str) -> None:
        self._build = build
        self.base = base
        self._source = build(base)
        self.spec = self._source.spec

    def rebase(self, base: str) -> None:
        if base != self.base:
            self.base, self._source = base, self._build(base)

    def read(self) -> float | None:
        return self._source.read()


class _MovableEvidence:
    """The target's evidence source (task listing or goroutine stacks), rebased like _Movable."""

    def __init__(self, plan: ServicePlan, base: str) -> None:
        self.plan = plan
        self.current: EvidenceSource | None = None
        self.rebase(base)

    def rebase(self, base: str) -> None:
        plan = self.plan
        self.current = evidence_source(plan.debug_url or _under(base, plan.debug_path),
                                       plan.pprof_url or _under(base, plan.pprof_path))

    def snapshot(self) -> dict[str, object] | None:
        return self.current.snapshot() if self.current is not None else None


class ComposeBackend(Backend):
    """Containers from compose.yaml, stats from the Docker engine."""

    name = "compose"

    def __init__(
        self,
        scenario: Scenario,
        settings: ComposeSettings | None = None,
        *,
        engine_factory: Callable[[], DockerEngine] = DockerEngine.from_env,
        run: Runner = subprocess.run,
        client_factory: Callable[[str, int, float], ToxiproxyClient] = ToxiproxyClient,
        api_timeout: float = 30.0,
    ) -> None:
        if settings is None:
            try:
                settings = ComposeSettings.from_env()
            except ValueError as exc:
                raise InputError(str(exc)) from exc
        self.scenario = scenario
        self.settings = settings
        declared = compose_services(settings.file)
        # fails before anything starts
        self.services = plan_services(scenario, settings, declared)
        # `compose down` leaves a profile's services running unless the profile is named
        self.profiles = sorted({p for plan in self.services
                                for p in (declared or {}).get(plan.service, [])})
        self.proxy_ports = {
            p.name: p.listen_port or settings.proxy_base_port + i
            for i, p in enumerate(scenario.proxies)
        }
        self._engine_factory = engine_factory
        self._exec = run
        self._client_factory = client_factory
        self._api_timeout = api_timeout
        self._engine: DockerEngine | None = None
        self._client: ToxiproxyClient | None = None
        self._started = False
        self._containers: dict[str, ContainerLike] = {}  # target / "toxiproxy" -> container
        self._paused: set[str] = set()
        self._killed: set[str] = set()
        self._reported: set[str] = set()
        self._problems: list[str] = []
        self._stats: list[ContainerStats] = []
        self._movable: dict[str, tuple[ServicePlan, list[_Movable | _MovableEvidence]]] = {}

    # ------------------------------------------------------------------ compose CLI

    def compose_argv(self, *args: str) -> list[str]:
        """``docker compose -f FILE -p PROJECT [--profile P ...] <args>``."""
        profiles = [arg for p in self.profiles for arg in ("--profile", p)]
        return ["docker", "compose", "-f", self.settings.file, "-p", self.settings.project,
                *profiles, *args]

    def _require_cli(self) -> None:
        if self._exec is subprocess.run and shutil.which("docker") is None:
            raise ToolMissing("docker CLI not found on PATH (the compose backend runs "
                              "`docker compose`); install it or use --backend attach")

    def compose_env(self) -> dict[str, str]:
        """What compose.yaml reads to start the scenario's samples as the scenario says.

        ``HARNESS_VARIANT`` (the variant of the targets that have one) and, for a target whose
        service is not named after its sample, ``HARNESS_<SERVICE>_SAMPLE`` (the gateway
        service runs whichever gateway sample the scenario names).
        """
        env: dict[str, str] = {}
        for plan in self.services:
            if plan.variant and "HARNESS_VARIANT" not in env:
                env["HARNESS_VARIANT"] = plan.variant
            if plan.sample and plan.sample != plan.service:
                key = plan.service.upper().replace("-", "_")
                env[f"HARNESS_{key}_SAMPLE"] = plan.sample
        return env

    def _compose(self, args: Sequence[str], timeout: float) -> None:
        argv = self.compose_argv(*args)
        self._require_cli()
        env = {**os.environ, **self.compose_env()}
        try:
            done = self._exec(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, env=env)
        except subprocess.TimeoutExpired as exc:
            raise ComposeFailed(f"`{' '.join(argv)}` did not finish within {timeout:g}s") from exc
        except OSError as exc:
            raise ToolMissing(f"cannot run {argv[0]!r}: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-15:])
            raise ComposeFailed(f"`{' '.join(argv)}` exited with {done.returncode}\n{tail}")

    # ------------------------------------------------------------------ up

    def up(self, ctx: BackendContext) -> Topology:
        try:
            return self._up(ctx)
        except BaseException:
            self._problems = self.down()  # nothing of ours outlives a failed start
            raise

    def _up(self, ctx: BackendContext) -> Topology:
        settings = self.settings
        engine = self._engine = self._engine_factory()
        services = [settings.toxiproxy_service, *dict.fromkeys(s.service for s in self.services)]
        if settings.manage:
            self._require_cli()
            self._started = True  # from here on, down() runs `compose down`
            wait = int(settings.wait_timeout)
            self._compose(["up", "-d", "--wait", "--wait-timeout", str(wait), *services],
                          timeout=settings.wait_timeout + 60)
            ctx.events.emit(EventKind.COMPOSE_UP, project=settings.project, file=settings.file,
                            services=services, engine=engine.version())
        proxy_container = engine.service_container(settings.project, settings.toxiproxy_service)
        self._containers["toxiproxy"] = proxy_container
        for plan in self.services:
            self._containers[plan.name] = engine.service_container(settings.project,
                                                                     plan.service)
        api_host, api_port = self._reach(proxy_container, settings.toxiproxy_service,
                                         settings.toxiproxy_port)
        client = self._client = self._client_factory(api_host, api_port, 5.0)
        if not wait_until(client.ping, self._api_timeout):
            raise ToxiproxyError(f"toxiproxy API {client.url} did not answer within "
                                 f"{self._api_timeout:g}s (compose service "
                                 f"{settings.toxiproxy_service!r})")
        proxies: dict[str, tuple[str, int]] = {}
        for proxy in self.scenario.proxies:
            port = self.proxy_ports[proxy.name]
            upstream = self._upstream(proxy.upstream)
            listen = f"{settings.proxy_bind}:{port}"
            client.create_proxy(proxy.name, listen, upstream)
            proxies[proxy.name] = self._reach(proxy_container, settings.toxiproxy_service, port)
            ctx.events.emit(EventKind.PROXY_CREATED, proxy=proxy.name, listen=listen,
                            reached_at="{}:{}".format(*proxies[proxy.name]), upstream=upstream)
        targets = {plan.name: self._watch(plan, ctx) for plan in self.services}
        control_stats = self._stats_of(proxy_container)
        control_sources: dict[str, MetricSource] = {
            f"docker_{stat}": DockerStatSource(control_stats, stat) for stat in DOCKER_STATS
        }
        control_sources.update({
            alias: make_source(spec, metrics_url=f"{client.url}/metrics")
            for alias, spec in TOXIPROXY_CONTROL.items()
        })
        control = TargetHandle(name="toxiproxy", role="control", host=api_host, port=api_port,
                               sources=control_sources)
        return Topology(toxiproxy=client, proxies=proxies, targets=targets,
                        controls={"toxiproxy": control})

    def _reach(self, container: ContainerLike, service: str, port: int) -> tuple[str, int]:
        """Where the harness reaches ``service:port`` (published on 127.0.0.1, or by name)."""
        if self.settings.reach == "network":
            return service, port
        host_port = published_port(container, port)
        if host_port is None:
            raise DockerError(
                f"compose service {service!r} does not publish port {port} "
                "(publish it in compose.yaml, or run the harness inside the compose network "
                "with HARNESS_COMPOSE_REACH=network)"
            )
        return "127.0.0.1", host_port

    def _upstream(self, upstream: str) -> str:
        for plan in self.services:
            if plan.name == upstream:
                return f"{plan.service}:{plan.port}"
        if HOST_PORT.match(upstream):
            return upstream
        raise ScenarioError(self.scenario.name, [f"proxies: upstream {upstream!r} unknown"])

    def _watch(self, plan: ServicePlan, ctx: BackendContext) -> TargetHandle:
        assert self._engine is not None
        container = self._containers[plan.name]
        needs_http = any(not s.startswith("docker:") for s in plan.metrics.values())
        if needs_http or self.settings.reach == "network" or published_port(container, plan.port):
            host, port = self._reach(container, plan.service, plan.port)
        else:  # only docker stats: nothing to reach over HTTP
            host, port = plan.service, plan.port
        stats = self._stats_of(container)
        sources: dict[str, MetricSource] = {}
        movable: list[_Movable] = []
        for alias, spec in plan.metrics.items():
            kind, _, stat = spec.partition(":")
            if kind == "docker":
                sources[alias] = DockerStatSource(stats, stat)
            else:
                source = _Movable(partial(_http_source, spec, plan), f"http://{host}:{port}")
                sources[alias] = source
                movable.append(source)
        evidence = _MovableEvidence(plan, f"http://{host}:{port}")
        if self.settings.reach == "published" and host == "127.0.0.1":
            # a container started again after a kill gets a new ephemeral host port
            self._movable[plan.name] = (plan, [*movable, evidence])
        for alias, spec in plan.dropped.items():
            ctx.events.emit(EventKind.METRIC_UNAVAILABLE, target=plan.name, metric=alias, spec=spec,
                            reason="no container equivalent")
        ctx.events.emit(EventKind.TARGET_ATTACHED, target=plan.name, service=plan.service,
                        container=container.name, metrics=plan.metrics)
        return TargetHandle(name=plan.name, role="target", pid=None, host=host, port=port,
                            sources=sources,
                            evidence=evidence if evidence.current is not None else None)

    def _stats_of(self, container: ContainerLike) -> ContainerStats:
        """The container's stats stream, started (closed by ``down()``)."""
        assert self._engine is not None
        stats = ContainerStats(self._engine, container)
        self._stats.append(stats)
        return stats.start()

    # ------------------------------------------------------------------ container faults

    def apply_container_fault(self, fault: ContainerFault) -> None:
        """Pause or kill a target's container (undone by ``remove_container_fault``)."""
        engine, container = self._fault_container(fault)
        if fault.action == "pause":
            engine.pause(container)
            self._paused.add(fault.target)
        else:
            self._killed.add(fault.target)  # an exit we caused is not reported by exited()
            engine.kill(container, fault.signal)

    def remove_container_fault(self, fault: ContainerFault) -> None:
        """Unpause, or start the killed container again when ``restart``."""
        engine, container = self._fault_container(fault)
        if fault.action == "pause":
            engine.unpause(container)
            self._paused.discard(fault.target)
        elif fault.restart:
            engine.start(container)
            self._killed.discard(fault.target)
            self._reported.discard(fault.target)
            self._follow_port(fault.target, container)

    def _follow_port(self, target: str, container: ContainerLike) -> None:
        """Point a restarted target's HTTP sources at the host port it was published on now.

        Docker publishes ``127.0.0.1::8080`` on a new ephemeral port each time a container
        starts: without this, a sample's /metrics went unread for the rest of the run after
        a kill fault (seen on the real engine).
        """
        entry = self._movable.get(target)
        if entry is None or self._engine is None:
            return
        plan, movables = entry
        port = None
        for _ in range(50):  # the binding appears once the container runs
            self._engine.state(container)  # reload
            port = published_port(container, plan.port)
            if port is not None:
                break
            time.sleep(0.1)
        if port is not None:
            for movable in movables:
                movable.rebase(f"http://127.0.0.1:{port}")

    def _fault_container(self, fault: ContainerFault) -> tuple[DockerEngine, ContainerLike]:
        container = self._containers.get(fault.target)
        if self._engine is None or container is None:
            raise DockerError(f"container fault on {fault.target!r}: no such running target")
        return self._engine, container

    # ------------------------------------------------------------------ watch

    def exited(self) -> list[ProcessExit]:
        if self._engine is None:
            return []
        out: list[ProcessExit] = []
        for name, container in self._containers.items():
            if name in self._reported or name in self._killed:
                continue
            status, code = self._engine.state(container)
            if status in ("exited", "dead", "removed"):
                self._reported.add(name)
                role: Role = "control" if name == "toxiproxy" else "target"
                out.append(ProcessExit(name, role, code))
        return out

    # ------------------------------------------------------------------ down

    def down(self) -> list[str]:
        """Toxics and proxies off, containers unpaused, ``compose down`` if we ran ``up``."""
        problems, self._problems = self._problems, []
        stats, self._stats = self._stats, []
        for stream in stats:  # before `compose down` removes the containers they follow
            stream.close()
        client, self._client = self._client, None
        if client is not None:
            try:
                problems += client.clear()
            except (HarnessError, OSError) as exc:  # clear() should not raise
                problems.append(f"toxiproxy cleanup: {exc}")
        engine = self._engine
        for name in list(self._paused):
            container = self._containers.get(name)
            if engine is not None and container is not None:
                try:
                    engine.unpause(container)
                except DockerError as exc:
                    problems.append(str(exc))
            self._paused.discard(name)
        if self._started:
            self._started = False
            try:
                self._compose(["down", "--volumes", "--remove-orphans", "--timeout", "10"],
                              timeout=120)
            except HarnessError as exc:
                problems.append(str(exc))
        self._containers.clear()
        if engine is not None:
            engine.close()
            self._engine = None
        return problems


__all__ = ["ComposeBackend", "ComposeFailed", "ServicePlan", "compose_services", "plan_services"]
