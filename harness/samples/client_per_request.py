"""Pattern 5: a new HTTP client (``aiohttp.ClientSession``) per request, never closed.

``GET /api/item/{id}`` looks the item up upstream on behalf of the caller, forwarding the
caller's ``Authorization``. The leaky gateway builds a session per caller token (sessions
take default headers, and "reuse the client" was read as "cache it") and never closes one.
Tokens are short-lived and per request, so in practice it is a new client per request: each
one pays a TCP handshake and keeps its kept-alive upstream socket open for the keep-alive
time (60 s, the setting that suits a shared pool), plus the session itself forever. FDs
grow with request rate, not concurrency; a unit test that makes three calls with one token
sees a single client.

The fix: the same client settings, but one shared session, created on startup and closed
on cleanup; the caller's header goes on each request.
"""

from __future__ import annotations

import argparse
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from harness.samples import _gateway
from harness.samples._gateway import SESSION, UPSTREAM, UpstreamError

CLIENTS: web.AppKey[dict[str, ClientSession]] = web.AppKey("clients")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _gateway.add_arguments(parser)


async def lookup(session: ClientSession, url: str, headers: dict[str, str] | None = None) -> Any:
    async with session.get(url, headers=headers) as resp:
        if resp.status != 200:
            raise UpstreamError(resp.status, await resp.text())
        return await resp.json()


def new_client(headers: dict[str, str] | None = None) -> ClientSession:
    """The team's client settings: a bounded pool, kept-alive connections, a total timeout."""
    connector = TCPConnector(limit=100, limit_per_host=50, keepalive_timeout=60)
    return ClientSession(connector=connector, headers=headers, timeout=ClientTimeout(total=10))


async def leaky(request: web.Request) -> web.Response:
    token, clients = request.headers.get("Authorization", ""), request.app[CLIENTS]
    if token not in clients:
        clients[token] = new_client({"Authorization": token})
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    return web.json_response(await lookup(clients[token], url))


async def fixed(request: web.Request) -> web.Response:
    token = request.headers.get("Authorization", "")
    url = f"{request.app[UPSTREAM]}/item/{request.match_info['id']}"
    return web.json_response(await lookup(request.app[SESSION], url, {"Authorization": token}))


def create_app(args: argparse.Namespace) -> web.Application:
    if args.variant == "leaky":
        app = _gateway.gateway_app(args, "/api/item/{id}", leaky)
        app[CLIENTS] = {}
        return app
    return _gateway.gateway_app(args, "/api/item/{id}", fixed, session=new_client)
