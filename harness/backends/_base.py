"""What every backend provides, and what it plans: the contract ``Run`` works against.

``Backend`` is a small base class holding every method its caller uses (as httpx's
``BaseTransport``): bring the topology up, report processes that exited, apply and remove
container faults, tell the versions of the tools it runs, tear everything down. A backend
that cannot do something (container faults outside compose) refuses it with an
``InputError``; ``harness.testing.FakeBackend`` implements the whole contract in memory.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from harness._process import Role
from harness.errors import InputError, ScenarioError
from harness.typing import EvidenceSource, MetricSource

if TYPE_CHECKING:
    from harness.chaos.toxiproxy import ToxiproxyClient
    from harness.runfolder import EventLog
    from harness.scenario import ContainerFault, Fault, NetworkFault, PodFault, Scenario



@dataclass
class TargetHandle:
    """A running target (or control process) as the sampler and checks see it."""

    name: str
    role: Role = "target"
    pid: int | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    sources: dict[str, MetricSource] = field(default_factory=dict)  # alias -> source
    evidence: EvidenceSource | None = None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "metrics": {alias: src.spec for alias, src in self.sources.items()},
        }


@dataclass(kw_only=True)
class TargetPlan:
    """A target as a backend plans to watch it, before anything starts.

    Every backend plans the same things (metric specs by alias, the specs it cannot read,
    where the target's metrics, pprof and task-listing endpoints are); each adds its own
    fields (argv and port for local processes, the service for compose).
    """

    name: str
    metrics: dict[str, str] = field(default_factory=dict)  # alias -> spec it will read
    dropped: dict[str, str] = field(default_factory=dict)  # alias -> spec nobody can read
    metrics_url: str | None = None
    pprof_url: str | None = None
    debug_url: str | None = None

    def take(self, alias: str, spec: str, mapped: str | None, *, metrics_url: bool,
             pprof_url: bool) -> str | None:
        """Plan ``alias`` (declared as ``spec``) to be read as ``mapped``; ``None`` means
        nothing here can read it (dropped). Returns the endpoint it still needs
        (``"metrics_url"``, ``"pprof_url"``), or None when planned."""
        if mapped is None:
            self.dropped[alias] = spec
            return None
        kind = mapped.partition(":")[0]
        if kind == "prometheus" and not metrics_url:
            return "metrics_url"
        if kind == "pprof" and not pprof_url:
            return "pprof_url"
        self.metrics[alias] = mapped
        return None


P = TypeVar("P", bound=TargetPlan)


def all_planned(scenario: Scenario, plans: list[P], problems: list[str]) -> list[P]:
    """The plans, or one ScenarioError naming every problem met while making them."""
    if problems:
        raise ScenarioError(f"scenario {scenario.name!r}", problems)
    return plans


@dataclass(frozen=True)
class ProcessExit:
    """A process of the run that exited on its own."""

    name: str
    role: Role
    returncode: int | None


class FaultInjector(Protocol):
    """What a run needs of Toxiproxy: add and remove one fault, clear them all."""

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        """Apply ``fault`` on ``proxy``; returns the id to remove it by."""

    def remove_fault(self, proxy: str, toxic: str) -> None:
        """Undo one fault added by ``add_fault``."""

    def clear(self) -> list[str]:
        """Remove every fault and proxy; returns the problems met (never raises)."""


class NoProxies:
    """The injector of a run whose scenario declares no proxy (no toxiproxy-server runs).
    Validation refuses a fault on an undeclared proxy, so ``add_fault`` is never reached."""

    def add_fault(self, proxy: str, fault: Fault, name: str | None = None) -> str:
        raise ScenarioError("faults", [f"proxy {proxy!r}: the scenario declares no proxies"])

    def remove_fault(self, proxy: str, toxic: str) -> None:
        return None

    def clear(self) -> list[str]:
        return []


@dataclass
class Topology:
    """What ``Backend.up`` returns: where load goes, what to sample, how to inject faults."""

    toxiproxy: FaultInjector
    proxies: dict[str, tuple[str, int]]  # proxy name -> listen (host, port)
    targets: dict[str, TargetHandle]
    controls: dict[str, TargetHandle] = field(default_factory=dict)
    # every listen address of a proxy served by several toxiproxy-server processes (the first
    # is ``proxies[name]``): the load spreads its users over them
    listeners: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def listen_addresses(self, proxy: str) -> list[tuple[str, int]]:
        """Where ``proxy`` listens: one address, or one per toxiproxy-server process."""
        return self.listeners.get(proxy) or [self.proxies[proxy]]


@dataclass
class BackendContext:
    """What a backend gets to work with when it brings the topology up."""

    scenario: Scenario
    run_dir: Path
    events: EventLog


class Backend(abc.ABC):
    """Local processes (default), docker compose, or attach to something running."""

    name: str = "backend"
    _client: ToxiproxyClient | None = None  # the Toxiproxy API, once up() reached it
    toxiproxy_processes: int = 1  # toxiproxy-server processes carrying the proxies

    @abc.abstractmethod
    def up(self, ctx: BackendContext) -> Topology:
        """Start (or find) toxiproxy, the proxies and the targets; wait for health.

        Raises EnvironmentFailure (exit 3) before any load starts if anything is wrong.
        """

    @abc.abstractmethod
    def exited(self) -> list[ProcessExit]:
        """Processes that exited since the last call (empty when all are alive)."""

    @abc.abstractmethod
    def down(self) -> list[str]:
        """Remove every toxic and proxy, stop every process. Idempotent, never raises.

        Returns the problems met on the way (e.g. a toxic that could not be removed).
        """

    def probe(self, timeout: float) -> dict[str, str]:
        """Ask every tool this backend runs (toxiproxy-server) whether it still answers,
        each within ``timeout`` s. Returns ``{tool: what it stopped doing}`` for the silent
        ones, empty when all answered. Run's watchdog calls this every few seconds and ends
        the run as a tool failure when a tool stays silent. Default: the Toxiproxy API of
        ``self._client`` when the backend has one."""
        client = self._client
        silence = client.silence(timeout) if client is not None else None
        return {"toxiproxy": silence} if silence else {}

    def versions(self) -> dict[str, str]:
        """Versions of the tools this backend runs (e.g. ``{"toxiproxy": "v2.12.0"}``)."""
        return {}

    def apply_container_fault(self, fault: ContainerFault) -> None:
        """Kill or pause a target's container for a phase (compose only)."""
        raise self._no_container_faults(fault)

    def remove_container_fault(self, fault: ContainerFault) -> None:
        """Undo ``apply_container_fault``."""
        raise self._no_container_faults(fault)

    def apply_network_fault(self, fault: NetworkFault, label: str) -> None:
        """Apply a fault below TCP to a target in its own network namespace (local only);
        ``label`` names it for ``remove_network_fault``."""
        raise self._no_network_faults(fault)

    def remove_network_fault(self, fault: NetworkFault, label: str) -> None:
        """Undo ``apply_network_fault``."""
        raise self._no_network_faults(fault)

    def apply_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        """Delete / kill / scale to zero a Kubernetes target's pods (attach only); returns
        what it did (pods, replicas before) for the fault_added event. ``label`` names it
        for ``remove_pod_fault``; ``down()`` undoes whatever is still in force."""
        raise self._no_pod_faults(fault)

    def remove_pod_fault(self, fault: PodFault, label: str) -> dict[str, object]:
        """Undo ``apply_pod_fault`` (scale back); returns what it did for fault_removed."""
        raise self._no_pod_faults(fault)

    def network_counters(self, target: str) -> dict[str, int]:
        """TCP counters of ``target``'s own network namespace (``RetransSegs``, ...); empty
        when it has none."""
        return {}

    def _no_network_faults(self, fault: NetworkFault) -> InputError:
        return InputError(f"network fault {fault.type} on {fault.target!r}: needs "
                          f"--backend local and netns: true (this run uses --backend {self.name})")

    def _no_pod_faults(self, fault: PodFault) -> InputError:
        return InputError(f"pod fault {fault.type} on {fault.target!r}: needs --backend "
                          f"attach and a target.kube (this run uses --backend {self.name})")

    def _no_container_faults(self, fault: ContainerFault) -> InputError:
        return InputError(f"container fault {fault.action} on {fault.target!r}: needs "
                          f"--backend compose (this run uses --backend {self.name})")
