"""A well-behaved HTTP API: the smoke target and the throughput baseline.

``GET /api/echo?n=BYTES`` answers n bytes; ``GET /api/item/{id}`` a small JSON body;
``POST /api/echo`` echoes the body. No leaks, no unbounded anything.
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def item(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"], "ok": True})


async def echo_get(request: web.Request) -> web.Response:
    n = min(int(request.query.get("n", "64")), 1 << 20)
    return web.Response(body=b"x" * n)


async def echo_post(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application()
    app.router.add_get("/api/item/{id}", item)
    app.router.add_get("/api/echo", echo_get)
    app.router.add_post("/api/echo", echo_post)
    return app
