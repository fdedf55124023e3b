"""Pattern 7: a retry storm: failed upstream calls retried by fire-and-forget tasks.

``POST /api/events`` forwards an event to the upstream. The leaky gateway answers 202 at
once and, when the upstream call fails, schedules a background retry with
``asyncio.create_task``, a second later, forever: each failed retry schedules the next.
While the upstream resets connections (a Toxiproxy ``reset_peer`` toxic on ``up``) every
failed request adds a retry chain that never ends; the live tasks grow with every request,
and the retries hammer the upstream harder the longer it is down. Nothing awaits the tasks,
so no test that checks the 202 notices.

The fix: bounded retries inside the request's own lifetime, with exponential backoff and
full jitter, then an honest 503 so the client (who owns the event) decides.
"""

from __future__ import annotations

import argparse
import asyncio
import random

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from harness.samples import _gateway
from harness.samples._gateway import SESSION, UPSTREAM

RETRY_DELAY = 1.0
MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.05
BACKOFF_CAP = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _gateway.add_arguments(parser)


async def deliver(session: ClientSession, url: str, event: bytes) -> None:
    async with session.post(url, data=event) as resp:
        resp.raise_for_status()


async def deliver_later(session: ClientSession, url: str, event: bytes) -> None:
    await asyncio.sleep(RETRY_DELAY)
    try:
        await deliver(session, url, event)
    except ClientError:
        asyncio.create_task(deliver_later(session, url, event))  # noqa: RUF006


async def leaky(request: web.Request) -> web.Response:
    event, session = await request.read(), request.app[SESSION]
    url = f"{request.app[UPSTREAM]}/events"
    try:
        await deliver(session, url, event)
    except ClientError:
        asyncio.create_task(deliver_later(session, url, event))  # noqa: RUF006
    return web.json_response({"accepted": True}, status=202)


async def fixed(request: web.Request) -> web.Response:
    event, session = await request.read(), request.app[SESSION]
    url = f"{request.app[UPSTREAM]}/events"
    for attempt in range(MAX_ATTEMPTS):
        try:
            await deliver(session, url, event)
            return web.json_response({"accepted": True}, status=202)
        except ClientError:
            if attempt + 1 < MAX_ATTEMPTS:
                await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))
    raise web.HTTPServiceUnavailable(text="upstream unavailable; retry later")


def create_app(args: argparse.Namespace) -> web.Application:
    return _gateway.gateway_app(
        args, "/api/events", leaky if args.variant == "leaky" else fixed, method="POST",
        session=lambda: ClientSession(timeout=ClientTimeout(total=5)),
    )
