"""Pattern 8: a task per incoming message, no backpressure, and a slow downstream.

``GET /ws/jobs`` is a WebSocket: clients send ``job <id> <payload>``; for each one the
service stores the payload downstream (``POST`` to ``--downstream``, by default its own
``/store``) and answers ``done <id>`` (or ``failed <id>``). ``GET /debug/jobs`` shows the
jobs in flight.

- ``leaky``: the read loop hands each message to ``asyncio.create_task`` and reads the next
  one at once. While the downstream is fast nobody notices; when it slows down (a latency
  toxic, a saturated database), tasks pile up at the client's send rate, each holding its
  message and a pooled connection slot, and nothing tells the client to slow down.
- ``fixed``: a service-wide ``asyncio.Semaphore`` bounds the jobs in flight; the read loop
  waits for a slot before it reads on, so the wait reaches the client as TCP backpressure.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

MAX_IN_FLIGHT = 16  # fixed: downstream calls the whole service makes at once


@dataclass
class Jobs:
    """Shared state: the downstream client, the background tasks, the optional limit."""

    downstream: str
    limit: asyncio.Semaphore | None
    session: aiohttp.ClientSession | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    done: int = 0
    failed: int = 0

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Fire and forget, the way the asyncio docs show it (keep a reference until done)."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


JOBS = web.AppKey("jobs", Jobs)


async def process(jobs: Jobs, ws: web.WebSocketResponse, job_id: str, payload: str) -> None:
    """Store one payload downstream and tell the client how it went."""
    assert jobs.session is not None
    try:
        async with jobs.session.post(jobs.downstream, data=payload.encode()) as resp:
            await resp.read()
            ok = resp.status < 400
    except aiohttp.ClientError:
        ok = False
    finally:
        if jobs.limit is not None:
            jobs.limit.release()
    jobs.done += ok
    jobs.failed += not ok
    if not ws.closed:
        await ws.send_str(f"{'done' if ok else 'failed'} {job_id}")


async def ws_jobs(request: web.Request) -> web.WebSocketResponse:
    jobs = request.app[JOBS]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        _, job_id, payload = [*msg.data.split(" ", 2), "", ""][:3]
        if jobs.limit is not None:
            await jobs.limit.acquire()  # the fix: no free slot, stop reading, the client waits
        jobs.spawn(process(jobs, ws, job_id, payload))  # leaky: read the next one at once
    return ws


async def store(request: web.Request) -> web.Response:
    """The default downstream: accepts a payload (put a proxy in between to slow it down)."""
    body = await request.read()
    return web.json_response({"stored": len(body)})


async def debug_jobs(request: web.Request) -> web.Response:
    jobs = request.app[JOBS]
    return web.json_response({"in_flight": len(jobs.tasks), "done": jobs.done,
                              "failed": jobs.failed})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--downstream", default="",
                        help="URL each job is POSTed to (default: this service's /store)")


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application()
    downstream = args.downstream or f"http://{args.host}:{args.port}/store"
    limit = asyncio.Semaphore(MAX_IN_FLIGHT) if args.variant == "fixed" else None
    app[JOBS] = Jobs(downstream=downstream, limit=limit)
    app.router.add_get("/ws/jobs", ws_jobs)
    app.router.add_post("/store", store)
    app.router.add_get("/debug/jobs", debug_jobs)

    async def client_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[JOBS].session = session
            yield

    app.cleanup_ctx.append(client_session)
    return app
