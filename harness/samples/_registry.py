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

# --- stream/server-side patterns 1, 2, 3, 8 (leaky/fixed pairs) ----------------------------
register(
    Sample(
        name="stalled_stream",
        summary="WebSocket + raw TCP stream handler with no read deadline; "
        "per-connection tickers never cancelled",
        patterns=("stalled client without read deadline",),
        scenarios=("stalled_stream",),
    )
)
register(
    Sample(
        name="slow_reader",
        summary="broadcast stream with an unbounded per-client queue and no write deadline",
        patterns=("slow reader with no write deadline / unbounded queue",),
        scenarios=("slow_reader",),
    )
)
register(
    Sample(
        name="retained_buffers",
        summary="small memoryview slices kept in a bounded log pin whole 64 KiB read buffers",
        patterns=("buffer slices that retain a pooled buffer",),
        scenarios=("retained_buffers",),
    )
)
register(
    Sample(
        name="unbounded_spawn",
        summary="a task per incoming message with no backpressure against a slow downstream",
        patterns=("unbounded task spawn without backpressure",),
        scenarios=("unbounded_spawn",),
    )
)
register(
    Sample(
        name="upstream",
        summary="the upstream the gateway samples call: OK, 1-in-3 503s, large/slow/streamed "
        "bodies, an events endpoint; no leak",
        variants=(),
    )
)
register(
    Sample(
        name="response_leak",
        summary="gateway that never releases the upstream response on its early-return paths",
        patterns=("HTTP response never released",),
        scenarios=("response_leak",),
    )
)
register(
    Sample(
        name="client_per_request",
        summary="gateway that builds a new aiohttp ClientSession per request and never closes it",
        patterns=("a new HTTP client per request",),
        scenarios=("client_per_request",),
    )
)
register(
    Sample(
        name="no_timeout",
        summary="gateway with no client timeout or concurrency bound against a stalled upstream",
        patterns=("no client timeout against a stalled upstream",),
        scenarios=("no_timeout",),
    )
)
register(
    Sample(
        name="retry_storm",
        summary="gateway that retries failed upstream calls in fire-and-forget tasks, forever",
        patterns=("retry storm",),
        scenarios=("retry_storm",),
    )
)
register(
    Sample(
        name="goleaks",
        summary="Go service: a stream handler with no read deadline and an HTTP client path "
        "that never closes resp.Body",
        patterns=("stalled client without read deadline", "HTTP response never released"),
        scenarios=("go_leaks",),
        language="go",
        metrics={"goroutines": "pprof:goroutine", "fds": "proc:fds", "rss": "proc:rss"},
        debug_path=None,
        pprof_path="/debug/pprof/goroutine",
    )
)
