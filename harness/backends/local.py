"""The local backend (default): toxiproxy-server and the targets as local processes.

Everything is planned first (ports, argv, health checks) so a bad placeholder or a taken
port fails before any process starts. Each process runs in its own process group and is
stopped with SIGTERM, a grace period, then SIGKILL.

A target with ``netns: true`` runs in its own network namespace (``harness.backends._netns``):
it listens on every address of the namespace (``{host}`` is ``0.0.0.0`` there), proxies
dial its service address, the harness reads its health and metrics on its control address,
and ``network_faults`` are iptables rules in the namespace's own chain.

More connections than one toxiproxy-server can hold under the open-file hard limit (two FDs
each) run through several toxiproxy-server processes (``harness.limits.toxiproxy_processes``):
every proxy listens in each of them (the first on the proxy's planned port, which the
``{proxies.NAME.port}`` placeholders name), faults go to all of them
(``ToxiproxyGroup``), each is sampled as a control series (``toxiproxy``, ``toxiproxy-2``...)
and the load spreads its users over the listen addresses (``Topology.listeners``).
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import requests

from harness._ports import LOOPBACK, PortAllocator
from harness._process import ManagedProcess, wait_until
from harness.backends._base import (
    Backend,
    BackendContext,
    FaultInjector,
    NoProxies,
    ProcessExit,
    TargetHandle,
    TargetPlan,
    Topology,
)
from harness.backends._netns import Netns, release, require_machine, reserve
from harness.chaos.toxiproxy import ToxiproxyClient, ToxiproxyGroup
from harness.errors import (
    EnvironmentFailure,
    ScenarioError,
    TargetCrashed,
    TargetUnhealthy,
)
from harness.events import EventKind
from harness.limits import toxiproxy_processes
from harness.metrics.sources import (
    TOOL_SCRAPE_EVERY,
    ProcSource,
    PrometheusSource,
    evidence_source,
    make_source,
)
from harness.samples import SAMPLES
from harness.scenario import Health, NetworkFault, Scenario, Target
from harness.tools import Tool, require_toxiproxy

UPSTREAM_TIMEOUT = 3.0  # seconds a proxy's host:port upstream gets to accept a connection
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")


@dataclass(kw_only=True)
class PlannedTarget(TargetPlan):
    """A local target with everything resolved: argv, port, health, metric URLs."""

    target: Target
    port: int
    argv: list[str]
    env: dict[str, str]
    health: Health
    host: str = LOOPBACK  # where the harness reads health and metrics
    address: str = LOOPBACK  # where proxies and load reach it
    netns: Netns | None = None


@dataclass
class Plan:
    """Ports and commands for one run, computed before anything starts."""

    toxiproxy: Tool | None  # None: the scenario declares no proxy, no toxiproxy-server runs
    api_port: int
    proxy_ports: dict[str, int]
    targets: list[PlannedTarget] = field(default_factory=list)
    # the second and further toxiproxy-server processes: (API port, proxy name -> port)
    more: list[tuple[int, dict[str, int]]] = field(default_factory=list)

    @property
    def servers(self) -> list[tuple[str, int, dict[str, int]]]:
        """Every toxiproxy-server process: (name, API port, proxy name -> listen port)."""
        if self.toxiproxy is None:
            return []
        return [(toxiproxy_name(i), api, ports) for i, (api, ports)
                in enumerate([(self.api_port, self.proxy_ports), *self.more])]

    def proxy_upstream(self, scenario: Scenario, name: str) -> str:
        proxy = next(p for p in scenario.proxies if p.name == name)
        for planned in self.targets:
            if planned.target.name == proxy.upstream:
                return f"{planned.address}:{planned.port}"
        return proxy.upstream


def toxiproxy_name(index: int) -> str:
    """The ``index``-th toxiproxy-server process's name: ``toxiproxy``, ``toxiproxy-2``..."""
    return "toxiproxy" if index == 0 else f"toxiproxy-{index + 1}"


def render(text: str, values: dict[str, str], where: str) -> str:
    """Fill ``{port}``, ``{targets.x.port}``, ``{proxies.front.addr}``... or name the bad one."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            known = ", ".join(sorted(values))
            raise ScenarioError(where, [f"unknown placeholder {{{key}}}; known: {known}"])
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def _option_flags(options: dict[str, str | int | float | bool]) -> list[str]:
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            continue
        else:
            flags += [flag, str(value)]
    return flags


def make_plan(scenario: Scenario, netns: dict[str, Netns] | None = None) -> Plan:
    """Resolve every port and command; raises ScenarioError/PortInUse/ToolMissing.

    ``netns`` holds the namespace reserved for each ``netns: true`` target."""
    netns = netns or {}
    # no proxy, no toxiproxy-server: the run neither needs the binary nor starts (and
    # samples, and probes) a server that carries no connection
    servers = toxiproxy_processes(scenario)
    tool = require_toxiproxy() if servers else None
    ports = PortAllocator()
    api_port = ports.take(None, "toxiproxy API") if tool is not None else 0
    target_ports = {t.name: ports.take(t.port, f"target {t.name!r}") for t in scenario.all_targets}
    proxy_ports = {p.name: ports.take(p.listen_port, f"proxy {p.name!r}") for p in scenario.proxies}
    values = {"host": LOOPBACK}
    if tool is not None:
        values["toxiproxy.port"] = str(api_port)
    for name, port in target_ports.items():
        values[f"targets.{name}.port"] = str(port)
        reach = netns[name].addresses.service if name in netns else LOOPBACK
        values[f"targets.{name}.addr"] = f"{reach}:{port}"
    for name, port in proxy_ports.items():
        values[f"proxies.{name}.port"] = str(port)
        values[f"proxies.{name}.addr"] = f"{LOOPBACK}:{port}"
    plan = Plan(tool, api_port, proxy_ports)
    for i in range(1, servers):
        name = toxiproxy_name(i)
        plan.more.append((ports.take(None, f"{name} API"),
                          {p.name: ports.take(None, f"proxy {p.name!r} in {name}")
                           for p in scenario.proxies}))
    for i, target in enumerate(scenario.all_targets):
        where = f"targets[{i}] ({target.name})"
        own = {**values, "port": str(target_ports[target.name]),
               "variant": target.variant or scenario.variant or "leaky"}
        ns = netns.get(target.name)
        host = LOOPBACK
        if ns is not None:  # every address of its own namespace; the host's side of its link
            own.update({"host": "0.0.0.0", "gateway": ns.addresses.host})
            own.update({f"targets.{other}.addr": f"{upstream_address(ns, netns.get(other))}:"
                        f"{port}" for other, port in target_ports.items()})
            host = ns.addresses.control
        sample = SAMPLES[target.sample] if target.sample else None
        if sample is not None:
            argv = sample.command() + _option_flags(target.options)
            if target.sample and sample.variants == ():
                argv = [a for a in argv if a not in ("--variant", "-variant", "{variant}")]
            health = target.health or Health(http=sample.health_path)
            metrics = target.sampled_metrics()
            base = f"http://{host}:{{port}}"
            metrics_url = target.metrics_url or (base + sample.metrics_path
                                                 if sample.metrics_path else None)
            pprof_url = target.pprof_url or (base + sample.pprof_path if sample.pprof_path else None)
            debug_url = target.debug_url or (base + sample.debug_path if sample.debug_path else None)
        else:
            assert target.command is not None
            argv = list(target.command) + _option_flags(target.options)
            health = target.health or Health(http=None, tcp=True)
            metrics = target.sampled_metrics()
            metrics_url, pprof_url, debug_url = target.metrics_url, target.pprof_url, target.debug_url
        argv = [render(a, own, f"{where}.command") for a in argv]
        if ns is not None:
            argv = [*ns.enter(), *argv]
        env = {k: render(v, own, f"{where}.env.{k}") for k, v in target.env.items()}
        urls = [render(u, own, f"{where}.url") if u else None
                for u in (metrics_url, pprof_url, debug_url)]
        for alias, spec in metrics.items():
            if spec.startswith("prometheus:") and not urls[0]:
                raise ScenarioError(where, [f"metrics.{alias}: {spec} needs metrics_url"])
            if spec.startswith("pprof:") and not urls[1]:
                raise ScenarioError(where, [f"metrics.{alias}: {spec} needs pprof_url"])
            if spec.startswith("docker:"):
                raise ScenarioError(where, [f"metrics.{alias}: {spec} needs --backend compose"])
        plan.targets.append(PlannedTarget(
            name=target.name, target=target, port=target_ports[target.name], argv=argv, env=env,
            health=health, metrics=metrics, metrics_url=urls[0], pprof_url=urls[1],
            debug_url=urls[2], host=host,
            address=ns.addresses.service if ns is not None else LOOPBACK, netns=ns))
    return plan


class LocalBackend(Backend):
    """Local processes on 127.0.0.1: the embedded default."""

    name = "local"

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        own = [t.name for t in scenario.all_targets if t.netns]
        self._netns: dict[str, Netns] = {}
        if own:  # refused before anything starts where the machine cannot do it (exit 3)
            require_machine(f"targets {', '.join(own)} (netns: true)")
            self._netns = reserve(own)
        try:
            self.plan = make_plan(scenario, self._netns)  # fails before anything starts
        except BaseException:
            release(list(self._netns.values()))
            raise
        self.toxiproxy_processes = len(self.plan.servers)
        self._servers: list[tuple[ManagedProcess, ToxiproxyClient]] = []
        self._targets: list[ManagedProcess] = []
        self._reported: set[str] = set()

    def versions(self) -> dict[str, str]:
        tool = self.plan.toxiproxy
        return {"toxiproxy": tool.version} if tool is not None else {}

    # ------------------------------------------------------------------ up

    def up(self, ctx: BackendContext) -> Topology:
        run_dir = ctx.run_dir
        logs = run_dir / "logs"
        plan = self.plan
        version = plan.toxiproxy.version if plan.toxiproxy is not None else None
        for name, api_port, _ in plan.servers:  # none when the scenario declares no proxy
            assert plan.toxiproxy is not None
            proc = ManagedProcess(
                name,
                [str(plan.toxiproxy.path), "-host", LOOPBACK, "-port", str(api_port),
                 "-runtime-metrics"],
                log_dir=logs, role="control",
            ).start()
            self._servers.append((proc, ToxiproxyClient(LOOPBACK, api_port, timeout=5.0)))
        controls: dict[str, TargetHandle] = {}
        for proc, client in self._servers:
            if not wait_until(partial(_answers, proc, client), timeout=15):
                which = "" if proc.name == "toxiproxy" else f" ({proc.name})"
                raise EnvironmentFailure(
                    f"toxiproxy-server{which} did not answer on {LOOPBACK}:{client.port} "
                    f"within 15s\n" + proc.tail())
            ctx.events.emit(EventKind.PROCESS_START, process=proc.name, role="control",
                            pid=proc.pid, version=version)
            assert proc.pid is not None
            controls[proc.name] = TargetHandle(
                name=proc.name, role="control", pid=proc.pid, port=client.port,
                sources={"fds": ProcSource(proc.pid, "fds", tree=False),
                         "rss": ProcSource(proc.pid, "rss", tree=False),
                         "threads": ProcSource(proc.pid, "threads", tree=False),
                         "goroutines": PrometheusSource(f"{client.url}/metrics",
                                                        "go_goroutines",
                                                        every=TOOL_SCRAPE_EVERY)})
        proxies: dict[str, tuple[str, int]] = {}
        listeners: dict[str, list[tuple[str, int]]] = {}
        for proxy in self.scenario.proxies:
            upstream = plan.proxy_upstream(self.scenario, proxy.name)
            for (_, _, ports), (proc, client) in zip(plan.servers, self._servers, strict=True):
                port = ports[proxy.name]
                client.create_proxy(proxy.name, f"{LOOPBACK}:{port}", upstream)
                listeners.setdefault(proxy.name, []).append((LOOPBACK, port))
                ctx.events.emit(EventKind.PROXY_CREATED, proxy=proxy.name,
                                listen=f"{LOOPBACK}:{port}", upstream=upstream,
                                **({"server": proc.name} if len(self._servers) > 1 else {}))
            proxies[proxy.name] = listeners[proxy.name][0]
        targets: dict[str, TargetHandle] = {}
        for planned in plan.targets:
            targets[planned.target.name] = self._start_target(planned, logs, ctx)
        self._check_upstreams()
        injector: FaultInjector = (
            NoProxies() if not self._servers else self._servers[0][1] if len(self._servers) == 1
            else ToxiproxyGroup([client for _, client in self._servers]))
        return Topology(toxiproxy=injector, proxies=proxies, targets=targets, controls=controls,
                        listeners=listeners if len(self._servers) > 1 else {})

    def _check_upstreams(self) -> None:
        """Every proxy upstream that is not a target (those passed their health check)
        accepts a TCP connection, before any load starts: a refused upstream is the
        environment's failure (exit 3), not the target's."""
        names = {t.name for t in self.scenario.all_targets}
        for i, proxy in enumerate(self.scenario.proxies):
            if proxy.upstream in names:
                continue
            host, _, port = proxy.upstream.rpartition(":")
            host = host.strip("[]")
            try:
                with socket.create_connection((host, int(port)), timeout=UPSTREAM_TIMEOUT):
                    pass
            except OSError as exc:
                raise EnvironmentFailure(
                    f"proxies[{i}] ({proxy.name}): upstream {proxy.upstream} does not accept "
                    f"connections ({exc.strerror or exc}); nothing was loaded") from exc

    def probe(self, timeout: float) -> dict[str, str]:
        """Every toxiproxy-server's API, each within ``timeout`` s."""
        out: dict[str, str] = {}
        for proc, client in self._servers:
            silence = client.silence(timeout)
            if silence:
                out[proc.name] = silence
        return out

    def _start_target(self, planned: PlannedTarget, logs: Path, ctx: BackendContext) -> TargetHandle:
        target = planned.target
        if planned.netns is not None:
            ns = planned.netns
            ns.create(ctx.run_dir)
            a = ns.addresses
            ctx.events.emit(EventKind.NETNS_CREATED, target=target.name, netns=ns.name,
                            veth=ns.host_if, chain=ns.chain, host=a.host, service=a.service,
                            control=a.control, block=str(a.block))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **planned.env}
        proc = ManagedProcess(target.name, planned.argv, log_dir=logs, env=env,
                              cwd=target.cwd, role="target").start()
        self._targets.append(proc)
        deadline = time.monotonic() + target.start_timeout
        while not _healthy(planned):
            code = proc.poll()
            if code is not None:
                raise TargetCrashed(
                    f"target {target.name!r} exited with code {code} while starting "
                    f"(log: {proc.log_path})\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise TargetUnhealthy(
                    f"target {target.name!r} not healthy within {target.start_timeout:g}s "
                    f"({_health_text(planned)}; log: {proc.log_path})\n{proc.tail()}")
            time.sleep(0.1)
        ctx.events.emit(EventKind.PROCESS_START, process=target.name, role="target", pid=proc.pid,
                        port=planned.port, argv=planned.argv)
        assert proc.pid is not None
        sources = {
            alias: make_source(spec, pid=proc.pid, metrics_url=planned.metrics_url,
                               pprof_url=planned.pprof_url)
            for alias, spec in planned.metrics.items()
        }
        return TargetHandle(name=target.name, role="target", pid=proc.pid, port=planned.port,
                            host=planned.address, sources=sources,
                            evidence=evidence_source(planned.debug_url, planned.pprof_url))

    # ------------------------------------------------------------------ watch

    def exited(self) -> list[ProcessExit]:
        out = []
        for proc in self.processes():
            if proc.name in self._reported or proc.expected_exit:
                continue
            code = proc.poll()
            if code is not None:
                self._reported.add(proc.name)
                out.append(ProcessExit(proc.name, proc.role, code))
        return out

    def processes(self) -> list[ManagedProcess]:
        return [*self._targets, *(proc for proc, _ in self._servers)]

    # ------------------------------------------------------------------ down

    def down(self) -> list[str]:
        """Remove toxics and proxies, stop targets (reverse order), then toxiproxy."""
        problems: list[str] = []
        for proc, client in self._servers:
            if not proc.running:
                continue
            silence = client.silence(timeout=1.0)
            if silence is not None:
                # a frozen server would make every removal wait out its timeout; its proxies
                # and toxics die with it just below (it is ours)
                problems.append(f"{proc.name}: {silence}; not removing toxics one by one, "
                                "stopping it")
            else:
                problems += client.clear()  # never raises: returns what it could not undo
        for proc in reversed(self._targets):
            proc.stop(grace=5.0)
        for proc, _ in self._servers:
            proc.stop(grace=3.0)
        problems += release(list(self._netns.values()))
        return problems

    # ------------------------------------------------------------------ faults below TCP

    def apply_network_fault(self, fault: NetworkFault, label: str) -> None:
        ns = self._netns_of(fault)
        upstream = fault.upstream
        other = next((p for p in self.plan.targets if p.name == upstream), None)
        if other is not None:  # another target: its port, at its address from this namespace
            fault = fault.model_copy(update={
                "upstream": f"{upstream_address(ns, other.netns)}:{other.port}"})
        ns.apply(fault, label)

    def remove_network_fault(self, fault: NetworkFault, label: str) -> None:
        self._netns_of(fault).remove(label)

    def network_counters(self, target: str) -> dict[str, int]:
        ns = self._netns.get(target)
        return ns.counters() if ns is not None and ns.created else {}

    def _netns_of(self, fault: NetworkFault) -> Netns:
        ns = self._netns.get(fault.target)
        if ns is None or not ns.created:
            raise ScenarioError("network_faults", [f"target {fault.target!r} has no network "
                                                   "namespace in this run (netns: true)"])
        return ns


def upstream_address(ns: Netns, other: Netns | None) -> str:
    """Where a target in ``ns`` reaches another target: the other's service address when it
    has a namespace too, else the host's side of its own link (the other must listen there
    or on 0.0.0.0: 127.0.0.1 of the host is not reachable from a namespace)."""
    return other.addresses.service if other is not None else ns.addresses.host


def _answers(proc: ManagedProcess, client: ToxiproxyClient) -> bool:
    """A toxiproxy-server is up: its process runs and its API answers."""
    return proc.poll() is None and client.ping()


def _health_text(planned: PlannedTarget) -> str:
    if planned.health.http:
        return f"GET http://{planned.host}:{planned.port}{planned.health.http}"
    return f"TCP connect {planned.host}:{planned.port}"


def _healthy(planned: PlannedTarget) -> bool:
    if planned.health.http:
        try:
            resp = requests.get(f"http://{planned.host}:{planned.port}{planned.health.http}",
                                timeout=1.0)
        except requests.RequestException:
            return False
        return resp.status_code < 500
    try:
        with socket.create_connection((planned.host, planned.port), timeout=1.0):
            return True
    except OSError:
        return False
