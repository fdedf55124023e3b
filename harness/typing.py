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
