"""The bundled sample services: what each one is, how to start it, what to sample.

A sample is started as ``python -m harness.samples NAME --port PORT --variant V
[--option value ...]`` (Go samples: the built binary, see ``command``). Every Python sample
serves ``/healthz``, Prometheus ``/metrics`` (``sample_tasks``, ``process_open_fds``,
``process_resident_memory_bytes``) and ``/debug/tasks`` (live asyncio tasks grouped by
coroutine and the line they wait on). What each sample is lives in ``samples.toml`` beside
this file: data, not code.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
        """argv with ``{host}``, ``{port}`` and ``{variant}`` placeholders (options are appended)."""
        if self.language == "go":
            from harness.tools import go_sample_binary

            return [str(go_sample_binary()), "-addr", "{host}:{port}", "-variant", "{variant}"]
        return [
            sys.executable, "-m", "harness.samples", self.name,
            "--host", "{host}", "--port", "{port}", "--variant", "{variant}",
        ]


def _load(path: Path) -> dict[str, Sample]:
    """The samples described in ``samples.toml`` (``false`` turns an endpoint path off)."""
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    samples: dict[str, Sample] = {}
    for name, fields in table.items():
        kwargs: dict[str, Any] = {}
        for key, value in fields.items():
            if value is False:
                value = None
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        samples[name] = Sample(name=name, **kwargs)
    return samples


SAMPLES: dict[str, Sample] = _load(Path(__file__).with_name("samples.toml"))


def register(sample: Sample) -> Sample:
    """Add a sample to the registry (e.g. a team's own leaky/fixed pair)."""
    SAMPLES[sample.name] = sample
    return sample
