"""Scaffolding shared by the gateway samples (patterns 4-7): one route that calls the upstream.

Each gateway module keeps only its handler pair, ``leaky`` and ``fixed``, so the fix reads
side by side; this module builds the app around the chosen one:

- ``--upstream URL``: where the upstream sample listens (in scenarios, through the ``up``
  Toxiproxy proxy: ``http://127.0.0.1:{proxies.up.port}``).
- an optional shared ``ClientSession`` created on startup and closed on cleanup.
- ``UpstreamError`` and a middleware that turns it into a 502 JSON answer and keeps the
  recent failures for ``GET /debug/upstream-errors`` (what an on-call engineer looks at).
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import ClientSession, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", ClientSession)
FAILURES: web.AppKey[collections.deque[UpstreamError]] = web.AppKey("failures")
RECENT_FAILURES_KEPT = 1000


class UpstreamError(Exception):
    """The upstream answered with an error (or could not be reached)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"upstream answered {status}: {detail}")
        self.status = status
        self.detail = detail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", default="http://127.0.0.1:8081",
                        help="base URL of the upstream service")


@web.middleware
async def upstream_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Upstream failures become 502s; the last few are kept for /debug/upstream-errors."""
    try:
        return await handler(request)
    except UpstreamError as exc:
        request.app[FAILURES].append(exc)
        return web.json_response({"error": str(exc)}, status=502)


async def recent_failures(request: web.Request) -> web.Response:
    kept = request.app[FAILURES]
    recent = [str(kept[i]) for i in range(max(0, len(kept) - 20), len(kept))]
    return web.json_response({"kept": len(kept), "recent": recent})


def gateway_app(
    args: argparse.Namespace,
    route: str,
    handler: Handler,
    *,
    method: str = "GET",
    session: Callable[[], ClientSession] | None = None,
) -> web.Application:
    """The gateway: ``method route`` served by ``handler``, plus the shared plumbing."""
    app = web.Application(middlewares=[upstream_errors])
    app[UPSTREAM] = str(args.upstream).rstrip("/")
    app[FAILURES] = collections.deque(maxlen=RECENT_FAILURES_KEPT)
    if session is not None:
        make_session = session

        async def shared_session(app: web.Application) -> AsyncIterator[None]:
            app[SESSION] = make_session()
            yield
            await app[SESSION].close()

        app.cleanup_ctx.append(shared_session)
    app.router.add_route(method, route, handler)
    app.router.add_get("/debug/upstream-errors", recent_failures)
    return app
