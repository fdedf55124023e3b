"""Instrumentation every Python sample serves: health, Prometheus metrics, live tasks.

- ``GET /healthz``: 200 ``ok``.
- ``GET /metrics``: Prometheus text: ``sample_tasks`` (live asyncio tasks: the goroutine
  equivalent), plus prometheus_client's process collector (``process_open_fds``,
  ``process_resident_memory_bytes``...).
- ``GET /debug/tasks``: live asyncio tasks grouped by coroutine and the line they wait on,
  ``{"total": N, "groups": [{"name": ..., "where": "file.py:12 in fn", "count": n}]}``,
  most first, so a report can say which code leaked.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
from types import CoroutineType, FrameType
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, ProcessCollector, generate_latest

SAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))


def _innermost_frame(coro: Any) -> FrameType | None:
    """Follow ``cr_await`` down to the deepest frame, preferring the samples' own code."""
    best: FrameType | None = None
    deepest: FrameType | None = None
    node = coro
    for _ in range(64):
        frame = getattr(node, "cr_frame", None) or getattr(node, "gi_frame", None)
        if frame is not None:
            deepest = frame
            if frame.f_code.co_filename.startswith(SAMPLES_DIR):
                best = frame
        nxt = getattr(node, "cr_await", None) or getattr(node, "gi_yieldfrom", None)
        if nxt is None:
            break
        node = nxt
    return best or deepest


def task_groups() -> dict[str, Any]:
    """Live tasks grouped by (coroutine, line waited on), most first."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    tasks = asyncio.all_tasks()
    for task in tasks:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        frame = _innermost_frame(coro) if isinstance(coro, CoroutineType) else None
        if frame is not None:
            where = (
                f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} "
                f"in {frame.f_code.co_name}"
            )
        else:
            where = "?"
        counts[(name, where)] += 1
    groups = [
        {"name": name, "where": where, "count": n}
        for (name, where), n in counts.most_common()
    ]
    return {"total": len(tasks), "groups": groups}


def instrument(app: web.Application, sample: str, variant: str) -> web.Application:
    """Add /healthz, /metrics and /debug/tasks to ``app``."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)

    def _count_tasks() -> float:
        try:
            return float(len(asyncio.all_tasks()))
        except RuntimeError:  # called outside the loop
            return float("nan")

    Gauge("sample_tasks", "live asyncio tasks (goroutine equivalent)", registry=registry
          ).set_function(_count_tasks)
    Gauge("sample_threads", "live threads", registry=registry
          ).set_function(lambda: float(threading.active_count()))
    info = Gauge("sample_info", "which sample and variant", ["sample", "variant"],
                 registry=registry)
    info.labels(sample=sample, variant=variant).set(1)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def debug_tasks(_: web.Request) -> web.Response:
        return web.json_response(task_groups())

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/debug/tasks", debug_tasks)
    return app
