"""The bundled sample services: what each one is, how to start it, what to sample.

A sample is started as ``python -m harness.samples NAME --port PORT --variant V
[--option value ...]`` (Go samples: the built binary, see ``command``). Every Python sample
serves ``/healthz``, Prometheus ``/metrics`` (``sample_tasks``, ``process_open_fds``,
``process_resident_memory_bytes``) and ``/debug/tasks`` (live asyncio tasks grouped by
coroutine and the line they wait on).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One bundled sample service."""

    name: str
    summary: str
    patterns: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    variants: tuple[str, ...] = ("leaky", "fixed")
    language: str = "python"
    health_path: str = "/healthz"
    metrics: dict[str, str] = field(
        default_factory=lambda: {
            "tasks": "prometheus:sample_tasks",
            "fds": "proc:fds",
            "rss": "proc:rss",
            "threads": "proc:threads",
        }
    )
    metrics_path: str | None = "/metrics"
    debug_path: str | None = "/debug/tasks"
    pprof_path: str | None = None

    def command(self) -> list[str]:
        """argv with ``{port}`` and ``{variant}`` placeholders (options are appended)."""
        if self.language == "go":
            from harness.tools import go_sample_binary

            return [str(go_sample_binary()), "-addr", "127.0.0.1:{port}", "-variant", "{variant}"]
        return [
            sys.executable, "-m", "harness.samples", self.name,
            "--port", "{port}", "--variant", "{variant}",
        ]


SAMPLES: dict[str, Sample] = {}


def register(sample: Sample) -> Sample:
    """Add a sample to the registry (called at import of harness.samples)."""
    SAMPLES[sample.name] = sample
    return sample


register(
    Sample(
        name="healthy",
        summary="a well-behaved HTTP API (echo, small JSON, streaming); the smoke target",
        variants=(),
        scenarios=("smoke",),
    )
)
