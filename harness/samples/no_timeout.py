"""Pattern 6: no client timeout against a stalled upstream.

``GET /api/item/{id}`` looks the item up upstream. The leaky gateway uses aiohttp's
defaults: a 5-minute total timeout (longer than any client waits) and no limit on how many
requests wait at once. When the upstream stalls (a Toxiproxy ``timeout`` toxic on ``up``),
every request parks a handler task; clients give up and retry, but aiohttp does not cancel
the handler when the client goes away, so the tasks pile up, the default pool of 100
connections fills, and requests queue behind it. P99 becomes the clients' own timeout.

The fix: ``ClientTimeout(total=..., connect=...)`` and a ``Semaphore`` bounding the
requests in flight; when it is full the gateway answers 503 at once, and a timed-out call
answers 504. Tasks stay bounded by concurrency; latency stays bounded by the timeout.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from harness.samples import _gateway
from harness.samples._gateway import SESSION, UPSTREAM, UpstreamError

UPSTREAM_TIMEOUT = ClientTimeout(total=0.5, connect=0.25)
MAX_IN_FLIGHT = 20
IN_FLIGHT = web.AppKey("in_flight", asyncio.Semaphore)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _gateway.add_arguments(parser)


async def leaky(request: web.Request) -> web.Response:
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    async with request.app[SESSION].get(url) as resp:
        if resp.status != 200:
            raise UpstreamError(resp.status, await resp.text())
        return web.json_response(await resp.json())


async def fixed(request: web.Request) -> web.Response:
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    in_flight = request.app[IN_FLIGHT]
    if in_flight.locked():
        raise web.HTTPServiceUnavailable(text="gateway busy: too many upstream calls waiting")
    async with in_flight:
        try:
            async with request.app[SESSION].get(url, timeout=UPSTREAM_TIMEOUT) as resp:
                if resp.status != 200:
                    raise UpstreamError(resp.status, await resp.text())
                return web.json_response(await resp.json())
        except TimeoutError as exc:
            raise web.HTTPGatewayTimeout(text="upstream did not answer in time") from exc


def create_app(args: argparse.Namespace) -> web.Application:
    app = _gateway.gateway_app(
        args, "/api/item/{id}", leaky if args.variant == "leaky" else fixed,
        session=lambda: ClientSession(connector=TCPConnector()),
    )
    app[IN_FLIGHT] = asyncio.Semaphore(MAX_IN_FLIGHT)
    return app
