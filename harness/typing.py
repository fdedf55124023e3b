"""Shared Protocols and type aliases (one place, as structlog's typing module)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class MetricSource(Protocol):
    """Reads one number (a level) for one target, e.g. open FDs or goroutines."""

    spec: str  # e.g. "proc:fds", "prometheus:go_goroutines", "pprof:goroutine"

    def read(self) -> float | None:
        """The current value, or None when it cannot be read right now."""


@runtime_checkable
class EvidenceSource(Protocol):
    """Snapshots what a target is doing (asyncio tasks, goroutine stacks) for evidence."""

    def snapshot(self) -> dict[str, object] | None:
        """``{"total": N, "groups": [{"name": ..., "where": ..., "count": n}, ...]}``."""


@runtime_checkable
class ProcessBreakdown(Protocol):
    """A source summed over several processes that can say what each one holds."""

    def per_process(self) -> list[tuple[int, str, float]]:
        """``(pid, name, value)`` of each process behind the last ``read()``."""


class LoadRunner(Protocol):
    """The load generator as a run drives it (``harness.load.LocustRun``; a fake in tests)."""

    failure: str | None  # why wait_ready() said False

    @property
    def pid(self) -> int | None:
        """The main load process (Locust's master or standalone), to sample as a control."""

    def start(self) -> None:
        """Start the load processes and return at once."""

    def wait_ready(self, timeout: float) -> bool:
        """True once ready for the phase plan; False (with ``failure``) otherwise."""

    def begin(self, load_start: float) -> None:
        """Phase 0 starts at epoch ``load_start``."""

    def exited(self) -> int | None:
        """The main process's exit code once it exited, else None."""

    def last_alive(self) -> float | None:
        """Epoch of the load side's last sign of life (Locust's heartbeat, written every
        second while its hub runs and every worker is connected); None before the first.
        The run's watchdog ends the run as a tool failure when it goes stale."""

    def tail(self) -> str:
        """The last lines of the main process's log, for error messages."""

    def stop(self, grace: float = 5.0) -> None:
        """Stop every load process. Idempotent."""
