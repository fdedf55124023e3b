"""Pattern 5: a new HTTP client (``aiohttp.ClientSession``) per request, never closed.

``GET /api/item/{id}`` looks the item up upstream. The leaky handler builds a session for
each request and forgets it: its connector keeps the kept-alive upstream connection open
(the keep-alive timer holds the connector, so garbage collection does not close it) for
15-30 s, and pays a TCP handshake every time. FDs grow with request rate, not with
concurrency; a unit test that makes three calls sees nothing but a warning.

The fix: one shared session, created on startup and closed on cleanup, with a bounded pool
(``limit``, ``limit_per_host``) and keep-alive, so connections are reused.
"""

from __future__ import annotations

import argparse
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from harness.samples import _gateway
from harness.samples._gateway import SESSION, UPSTREAM, UpstreamError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _gateway.add_arguments(parser)


async def lookup(session: ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        if resp.status != 200:
            raise UpstreamError(resp.status, await resp.text())
        return await resp.json()


async def leaky(request: web.Request) -> web.Response:
    session = ClientSession()
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    return web.json_response(await lookup(session, url))


async def fixed(request: web.Request) -> web.Response:
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    return web.json_response(await lookup(request.app[SESSION], url))


def create_app(args: argparse.Namespace) -> web.Application:
    def shared() -> ClientSession:
        connector = TCPConnector(limit=100, limit_per_host=50, keepalive_timeout=30)
        return ClientSession(connector=connector, timeout=ClientTimeout(total=10))

    if args.variant == "leaky":
        return _gateway.gateway_app(args, "/api/item/{id}", leaky)
    return _gateway.gateway_app(args, "/api/item/{id}", fixed, session=shared)
