"""Pattern 4: an upstream response that is never released on the early-return path.

``GET /api/report/{id}`` fetches the upstream report and answers a summary. Reports over
``MAX_REPORT_BYTES`` are refused before reading them (an early return), and upstream error
statuses become 502s. The leaky handler raises without reading or releasing the response;
the exception is kept by the gateway's recent-failures list (a debugging aid), and its
traceback keeps the handler's frame, ``resp`` included. A large body never reaches EOF
because nobody reads it, so aiohttp cannot give the connection back: one socket and FD per
refused report, for as long as the failure is remembered. Unit tests with small fixture
bodies never see it (aiohttp releases a fully-buffered body at EOF by itself).

The fix: ``async with session.get(...) as resp``, which releases (here: closes) the
connection on every path, however long the exception is kept.
"""

from __future__ import annotations

import argparse

from aiohttp import ClientSession, TCPConnector, web

from harness.samples import _gateway
from harness.samples._gateway import SESSION, UPSTREAM, UpstreamError

MAX_REPORT_BYTES = 256 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _gateway.add_arguments(parser)


def summarize(body: bytes) -> dict[str, int]:
    return {"bytes": len(body), "lines": body.count(b"\n")}


async def leaky(request: web.Request) -> web.Response:
    url = f"{request.app[UPSTREAM]}/report/{request.match_info['id']}"
    resp = await request.app[SESSION].get(url)
    if resp.status != 200:
        raise UpstreamError(resp.status, "report unavailable")
    if (resp.content_length or 0) > MAX_REPORT_BYTES:
        raise UpstreamError(413, f"report too large ({resp.content_length} bytes)")
    return web.json_response(summarize(await resp.read()))


async def fixed(request: web.Request) -> web.Response:
    url = f"{request.app[UPSTREAM]}/report/{request.match_info['id']}"
    async with request.app[SESSION].get(url) as resp:
        if resp.status != 200:
            raise UpstreamError(resp.status, "report unavailable")
        if (resp.content_length or 0) > MAX_REPORT_BYTES:
            raise UpstreamError(413, f"report too large ({resp.content_length} bytes)")
        return web.json_response(summarize(await resp.read()))


def create_app(args: argparse.Namespace) -> web.Application:
    # limit=0: no pool ceiling, as in many services ("the default 100 throttled us")
    return _gateway.gateway_app(
        args, "/api/report/{id}", leaky if args.variant == "leaky" else fixed,
        session=lambda: ClientSession(connector=TCPConnector(limit=0)),
    )
