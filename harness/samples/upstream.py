"""The upstream the gateway samples call: answers OK, errors, large, slow or streamed bodies.

No leak and no variants. Endpoints (all GET):

- ``/item/{id}``: small JSON; every ``--error-every``-th request (default 3) a 503 with a
  small JSON error body, as an overloaded service sheds load.
- ``/report/{id}``: a report; ids divisible by 3 get a large one (``--large-kib``, default
  1024 KiB), streamed in 16 KiB chunks with backpressure so memory stays flat.
- ``/slow?ms=N``: answers after N ms.
- ``/stream?chunks=N&ms=M``: N chunks M ms apart.
- ``POST /events``: accepts an event (202), the write path the retry gateway calls.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Iterator

from aiohttp import web

CHUNK = b"r" * 16384
COUNTER: web.AppKey[Iterator[int]] = web.AppKey("counter")
ARGS = web.AppKey("args", argparse.Namespace)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-every", type=int, default=3, help="every Nth /item is a 503")
    parser.add_argument("--large-kib", type=int, default=1024, help="size of large reports")


async def item(request: web.Request) -> web.Response:
    every, counter = request.app[ARGS].error_every, request.app[COUNTER]
    if every > 0 and next(counter) % every == every - 1:
        return web.json_response({"error": "overloaded", "retry_after": 1}, status=503)
    return web.json_response({"id": request.match_info["id"], "name": "widget", "price": 42})


async def report(request: web.Request) -> web.StreamResponse:
    try:
        large = int(request.match_info["id"]) % 3 == 0
    except ValueError:
        large = False
    size = request.app[ARGS].large_kib * 1024 if large else 2048
    response = web.StreamResponse(headers={"Content-Type": "text/csv"})
    response.content_length = size
    await response.prepare(request)
    for offset in range(0, size, len(CHUNK)):
        await response.write(CHUNK[: size - offset])
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(min(int(request.query.get("ms", "100")), 60_000) / 1000)
    return web.json_response({"ok": True})


async def stream(request: web.Request) -> web.StreamResponse:
    chunks = min(int(request.query.get("chunks", "10")), 10_000)
    pause = min(int(request.query.get("ms", "100")), 10_000) / 1000
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    for i in range(chunks):
        await response.write(f"chunk {i}\n".encode())
        await asyncio.sleep(pause)
    await response.write_eof()
    return response


async def events(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": True}, status=202)


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application()
    app[ARGS] = args
    app[COUNTER] = itertools.count()
    app.router.add_get("/item/{id}", item)
    app.router.add_get("/report/{id}", report)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stream", stream)
    app.router.add_post("/events", events)
    return app
