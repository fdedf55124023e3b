"""The attach backend: the topology already runs (Kubernetes, a VM, compose); start nothing.

The scenario's ``attach:`` section names the Toxiproxy API, each proxy's address as the load
sees it and as Toxiproxy dials it, and where each target's instrumentation answers. ``up()``
creates the proxies through the Toxiproxy API; ``down()`` removes every toxic and proxy this
run created (also when ``up()`` fails half-way) and touches nothing else.

Metric specs that need a local process are mapped to what a remote target can serve:
``proc:fds`` -> ``prometheus:process_open_fds`` and ``proc:rss`` ->
``prometheus:process_resident_memory_bytes`` (the standard process collector names);
``proc:threads``, ``proc:conns`` and ``proc:close_wait`` have no standard equivalent and
are dropped (an event says so) unless ``attach.targets.<name>.metrics`` gives one; the
``:self`` forms map like the tree forms.

A ``target.kube`` target (a workload named by reference) is read through the API server
(harness.kube): its ``kube:`` sources sum its pods' containers (the kubelets' cAdvisor and the
pod status), ``up()`` waits until its pods are Ready (TargetUnhealthy, exit 3, otherwise), a
proxy whose upstream is its name dials its Service (``<service>.<namespace>.svc:<port>``),
and ``down()`` stops its pod watch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from harness._process import wait_until
from harness.backends._base import Backend, TargetHandle, TargetPlan, Topology, all_planned
from harness.chaos.toxiproxy import ToxiproxyClient
from harness.errors import HarnessError, ScenarioError, TargetUnhealthy, ToxiproxyError
from harness.events import EventKind
from harness.metrics.sources import evidence_source, make_source
from harness.samples import SAMPLES
from harness.scenario import AttachSettings, KubeRef, Scenario, Target, attach_problems

if TYPE_CHECKING:  # annotations only
    from harness.backends._base import BackendContext, ProcessExit
    from harness.kube import KubeApi, KubeWatch, PodFaults
    from harness.scenario import PodFault

PROC_EQUIVALENTS = {
    "proc:fds": "prometheus:process_open_fds",
    "proc:rss": "prometheus:process_resident_memory_bytes",
}
TOXIPROXY_CONTROL = {
    "goroutines": "prometheus:go_goroutines",
    "fds": "prometheus:process_open_fds",
    "rss": "prometheus:process_resident_memory_bytes",
}


def remote_equivalent(spec: str, *, docker: bool = False) -> str | None:
    """The spec a remote target can serve for ``spec`` (None: nothing equivalent).

    With ``docker`` (compose), ``proc:threads`` becomes ``docker:pids`` (a container's pids
    cgroup counts its threads); without, it has no equivalent.
    """
    if spec.startswith("proc:") and spec.endswith(":self"):
        spec = spec[: -len(":self")]
    if spec in PROC_EQUIVALENTS:
        return PROC_EQUIVALENTS[spec]
    if spec in ("proc:conns", "proc:close_wait"):
        return None  # the TCP table of a remote process tree is not ours to read
    if spec == "proc:threads":
        return "docker:pids" if docker else None
    return spec


@dataclass(kw_only=True)
class RemoteTarget(TargetPlan):
    """A running target as the attach backend plans to watch it."""

    health_url: str | None = None
    kube: KubeRef | None = None


def plan_targets(scenario: Scenario, attach: AttachSettings) -> list[RemoteTarget]:
    """Map every target's metric specs to remote ones; ScenarioError names what is missing."""
    problems: list[str] = []
    planned: list[RemoteTarget] = []
    for target in scenario.all_targets:
        ends = attach.targets.get(target.name)
        where = f"attach.targets.{target.name}"
        wanted = _declared_metrics(target)
        if ends is not None:
            wanted.update(ends.metrics)
        remote = RemoteTarget(
            name=target.name,
            metrics={},
            metrics_url=(ends.metrics_url if ends else None) or target.metrics_url,
            pprof_url=(ends.pprof_url if ends else None) or target.pprof_url,
            debug_url=(ends.debug_url if ends else None) or target.debug_url,
            health_url=ends.health_url if ends else None,
            kube=target.kube,
        )
        for alias, spec in wanted.items():
            if spec.startswith("kube:"):
                remote.metrics[alias] = spec  # read through the API server (harness.kube)
                continue
            mapped = remote_equivalent(spec)
            if mapped is not None and mapped.startswith("docker:"):
                problems.append(f"{where}.metrics.{alias}: {spec} needs --backend compose")
                continue
            missing = remote.take(alias, spec, mapped, metrics_url=bool(remote.metrics_url),
                                  pprof_url=bool(remote.pprof_url))
            if missing:
                problems.append(f"{where}.{missing}: needed by metrics.{alias} ({mapped})")
        planned.append(remote)
    return all_planned(scenario, planned, problems)


def _declared_metrics(target: Target) -> dict[str, str]:
    if target.kube is not None:
        return target.sampled_metrics()  # kube: defaults, then metrics:
    if target.sample:
        return {**SAMPLES[target.sample].metrics, **target.metrics}
    return dict(target.metrics)


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2.0).status_code < 500
    except requests.RequestException:
        return False


class AttachBackend(Backend):
    """Attach to a topology someone else runs: create proxies, watch, clean up."""

    name = "attach"

    def __init__(
        self,
        scenario: Scenario,
        client_factory: Callable[[str, int, float], ToxiproxyClient] = ToxiproxyClient,
    ) -> None:
        problems = attach_problems(scenario)
        if problems:
            raise ScenarioError(f"scenario {scenario.name!r}", problems)
        assert scenario.attach is not None
        self.scenario = scenario
        self.settings: AttachSettings = scenario.attach
        self.targets = plan_targets(scenario, self.settings)  # fails before anything starts
        self._client_factory = client_factory
        self._client: ToxiproxyClient | None = None
        self._problems: list[str] = []  # met by a cleanup inside a failed up()
        self._kube: KubeApi | None = None
        self._watches: list[KubeWatch] = []
        self._services = {t.name: t.kube.service_address for t in self.targets
                          if t.kube is not None and t.kube.service_address}
        self._pod_faults: PodFaults | None = None  # at the first pod fault (or its check)

    def up(self, ctx: BackendContext) -> Topology:
        try:
            return self._up(ctx)
        except BaseException:
            self._problems = self.down()  # leave no proxy behind when the run never starts
            raise

    def _up(self, ctx: BackendContext) -> Topology:
        host, port = self.settings.toxiproxy_host_port
        client = self._client_factory(host, port, 5.0)
        self._client = client
        if not wait_until(client.ping, self.settings.timeout):
            raise ToxiproxyError(
                f"toxiproxy API {self.settings.toxiproxy} did not answer within "
                f"{self.settings.timeout:g}s (attach.toxiproxy)"
            )
        ctx.events.emit(EventKind.TOXIPROXY_ATTACHED, url=self.settings.toxiproxy,
                        version=client.version())
        proxies: dict[str, tuple[str, int]] = {}
        for proxy in self.scenario.proxies:
            entry = self.settings.proxies[proxy.name]
            upstream = (entry.upstream or self._services.get(proxy.upstream)
                        or proxy.upstream)
            client.create_proxy(proxy.name, entry.bind_address, upstream)
            listen_host, _, listen_port = entry.listen.rpartition(":")
            proxies[proxy.name] = (listen_host.strip("[]"), int(listen_port))
            ctx.events.emit(EventKind.PROXY_CREATED, proxy=proxy.name, listen=entry.bind_address,
                            reached_at=entry.listen, upstream=upstream)
        targets = {t.name: self._watch(t, ctx) for t in self.targets}
        self._check_pod_faults()
        control = TargetHandle(
            name="toxiproxy", role="control", host=host, port=port,
            sources={alias: make_source(spec, metrics_url=f"http://{host}:{port}/metrics")
                     for alias, spec in TOXIPROXY_CONTROL.items()},
        )
        return Topology(toxiproxy=client, proxies=proxies, targets=targets,
                        controls={"toxiproxy": control})

    def _watch(self, target: RemoteTarget, ctx: BackendContext) -> TargetHandle:
        if target.kube is not None:
            return self._watch_kube(target, target.kube, ctx)
        if target.health_url and not wait_until(lambda: _http_ok(str(target.health_url)),
                                              self.settings.timeout):
            raise TargetUnhealthy(
                f"target {target.name!r}: GET {target.health_url} did not answer < 500 within "
                f"{self.settings.timeout:g}s (attach.targets.{target.name}.health_url)"
            )
        for alias, spec in target.dropped.items():
            ctx.events.emit(EventKind.METRIC_UNAVAILABLE, target=target.name, metric=alias, spec=spec,
                            reason="no remote equivalent; set attach.targets.<name>.metrics")
        sources = {
            alias: make_source(spec, metrics_url=target.metrics_url, pprof_url=target.pprof_url)
            for alias, spec in target.metrics.items()
        }
        where = urlsplit(target.metrics_url or target.pprof_url or target.health_url or "")
        ctx.events.emit(EventKind.TARGET_ATTACHED, target=target.name, metrics=target.metrics)
        return TargetHandle(name=target.name, role="target", pid=None,
                            host=where.hostname or target.name, port=where.port,
                            sources=sources,
                            evidence=evidence_source(target.debug_url, target.pprof_url))

    def _watch_kube(self, target: RemoteTarget, ref: KubeRef,
                    ctx: BackendContext) -> TargetHandle:
        from harness.kube import KubeSource, KubeWatch

        watch = KubeWatch(self._kube_api(), ref, target.name, ctx.events,
                          interval=self.scenario.sample_interval,
                          sampled=[spec.partition(":")[2] for spec in target.metrics.values()
                                   if spec.startswith("kube:")])
        self._watches.append(watch)
        watch.wait_ready(self.settings.timeout)  # readiness is the target's health
        if target.health_url and not wait_until(lambda: _http_ok(str(target.health_url)),
                                              self.settings.timeout):
            raise TargetUnhealthy(
                f"target {target.name!r}: GET {target.health_url} did not answer < 500 within "
                f"{self.settings.timeout:g}s (attach.targets.{target.name}.health_url)")
        watch.start()
        sources = {
            alias: (KubeSource(watch, spec.partition(":")[2]) if spec.startswith("kube:")
                    else make_source(spec, metrics_url=target.metrics_url,
                                     pprof_url=target.pprof_url))
            for alias, spec in target.metrics.items()
        }
        address = ref.service_address
        host, _, port = (address or f"{target.name}:{ref.port}").rpartition(":")
        ctx.events.emit(EventKind.TARGET_ATTACHED, target=target.name, metrics=target.metrics,
                        kube={"namespace": ref.namespace, "selector": watch.selector,
                              "pods": [p.name for p in watch.pods], "service": address,
                              "api": self._kube.where if self._kube else None})
        return TargetHandle(name=target.name, role="target", pid=None, host=host,
                            port=int(port), sources=sources,
                            evidence=evidence_source(target.debug_url, target.pprof_url))

    def exited(self) -> list[ProcessExit]:
        """Nothing was started here, so nothing of ours can exit."""
        return []

    def _kube_api(self) -> KubeApi:
        """The run's one Kubernetes API client (kube: metrics and pod faults share it),
        connected at first use; ``down()`` closes it."""
        if self._kube is None:
            from harness.kube import connect

            self._kube = connect()
        return self._kube

    def _faults(self) -> PodFaults:
        if self._pod_faults is None:
            from harness.kube import PodFaults

            self._pod_faults = PodFaults(api_factory=self._kube_api)
        return self._pod_faults

    def _check_pod_faults(self) -> None:
        """Before load starts: the Kubernetes API answers for every target a pod fault
        acts on, and its workload exists (a phase must not fail on a typo 10 minutes in)."""
        named = {f.target for p in self.scenario.phases for f in p.pod_faults}
        for target in self.scenario.all_targets:
            if target.name in named and target.kube is not None:
                self._faults().check(target.kube)

    def apply_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        """Delete / kill / scale to zero the pods of ``fault.target`` (its ``kube:`` ref)."""
        target = next(t for t in self.scenario.all_targets if t.name == fault.target)
        if target.kube is None:  # the scenario's validation refuses this already
            raise ScenarioError(f"scenario {self.scenario.name!r}", [
                f"pod fault on {fault.target!r}: the target has no kube: reference"])
        return self._faults().apply(fault, target.kube, label)

    def remove_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        """Undo one pod fault (a Deployment scaled to zero gets its replicas back)."""
        if self._pod_faults is None:
            return {}
        return self._pod_faults.remove(label)

    def down(self) -> list[str]:
        """Undo every pod fault still in force, remove every toxic and proxy this run
        created. Idempotent, never raises."""
        pods, self._pod_faults = self._pod_faults, None
        problems, self._problems = self._problems, []
        watches, self._watches = self._watches, []
        if pods is not None:  # first: it undoes faults through the shared client
            problems += [f"pod fault not undone: {p}" for p in pods.restore()]
        for watch in watches:
            watch.stop()
        kube, self._kube = self._kube, None
        if kube is not None:
            kube.close()
        client, self._client = self._client, None
        if client is None:
            return problems
        try:
            return problems + client.clear()
        except (HarnessError, requests.RequestException) as exc:  # clear() should not raise
            return [*problems, f"toxiproxy cleanup: {exc}"]


__all__ = ["AttachBackend", "RemoteTarget", "plan_targets", "remote_equivalent"]
