"""What every backend provides: bring the topology up, watch it, tear it down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from harness.typing import EvidenceSource, MetricSource

if TYPE_CHECKING:
    from harness.chaos.toxiproxy import ToxiproxyClient
    from harness.runfolder import EventLog
    from harness.scenario import Scenario


@dataclass
class TargetHandle:
    """A running target (or control process) as the sampler and checks see it."""

    name: str
    role: str = "target"  # "target" | "control"
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


@dataclass(frozen=True)
class ProcessExit:
    """A process of the run that exited on its own."""

    name: str
    role: str
    returncode: int | None


@dataclass
class Topology:
    """What ``Backend.up`` returns: where load goes, what to sample, how to inject faults."""

    toxiproxy: ToxiproxyClient
    proxies: dict[str, tuple[str, int]]  # proxy name -> listen (host, port)
    targets: dict[str, TargetHandle]
    controls: dict[str, TargetHandle] = field(default_factory=dict)


@dataclass
class RunContext:
    """What a backend gets to work with."""

    scenario: Scenario
    run_dir: object  # pathlib.Path
    events: EventLog


class Backend(Protocol):
    """Local processes (default), docker compose, or attach to something running."""

    name: str

    def up(self, ctx: RunContext) -> Topology:
        """Start (or find) toxiproxy, the proxies and the targets; wait for health.

        Raises EnvironmentFailure (exit 3) before any load starts if anything is wrong.
        """

    def exited(self) -> list[ProcessExit]:
        """Processes that exited since the last call (empty when all are alive)."""

    def down(self) -> list[str]:
        """Remove every toxic and proxy, stop every process. Idempotent, never raises.

        Returns the problems met on the way (e.g. a toxic that could not be removed).
        """
