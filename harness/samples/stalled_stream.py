"""Pattern 1: a stalled client and a stream handler with no read deadline.

A quote stream: a client subscribes, sends ``ping <id>`` now and then and gets ``pong <id>``
back, and a per-connection ticker pushes ``tick <n>`` every second. Two front doors share the
same logic: a WebSocket at ``GET /ws/stream`` and, with ``--tcp-port``, a raw TCP line
protocol (one command per line).

- ``leaky``: the handler waits for the next message forever (``async for msg in ws`` /
  ``await reader.readline()``) and the ticker it started is never cancelled. A peer that
  vanished without a FIN (a phone that left the network) leaves both tasks, the socket and
  its buffers behind until the process restarts.
- ``fixed``: every read has a deadline (``ws.receive(timeout=...)`` /
  ``asyncio.timeout(...)``); when it passes, the handler closes the connection, and
  ``try/finally`` cancels the ticker whatever ended the handler.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web

TICK_EVERY = 1.0  # seconds between ticks the server pushes
IDLE_TIMEOUT = 3.0  # fixed: a client silent this long is gone (clients ping every <= 1 s)
CLOSE_TIMEOUT = 1.0  # fixed: how long a closing handshake may wait for a silent peer

Send = Callable[[str], Awaitable[None]]

_background: set[asyncio.Task[None]] = set()


def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Fire and forget, the way the asyncio docs show it (keep a reference until done)."""
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def reply(line: str) -> str | None:
    """The protocol, shared by both front doors: ``ping <id>`` -> ``pong <id>``."""
    command, _, arg = line.strip().partition(" ")
    if command == "ping":
        return f"pong {arg}"
    if command == "subscribe":
        return f"subscribed {arg}"
    return None if not command else f"error unknown command {command!r}"


async def tick(send: Send, is_closed: Callable[[], bool]) -> None:
    """The per-connection ticker: one small message a second while the connection is open."""
    n = 0
    while not is_closed():
        n += 1
        await send(f"tick {n}")
        await asyncio.sleep(TICK_EVERY)


# --- WebSocket ------------------------------------------------------------------------------


async def ws_stream_leaky(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    spawn(tick(ws.send_str, lambda: ws.closed))  # started here, cancelled nowhere
    async for msg in ws:  # no deadline: a silent peer parks this handler forever
        if msg.type is WSMsgType.TEXT and (out := reply(msg.data)) is not None:
            await ws.send_str(out)
    return ws


async def ws_stream_fixed(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    ticker = asyncio.create_task(tick(ws.send_str, lambda: ws.closed))
    try:
        while True:
            try:
                msg = await ws.receive(timeout=IDLE_TIMEOUT)  # the read deadline
            except TimeoutError:
                break  # the peer is gone: stop waiting for it
            if msg.type is not WSMsgType.TEXT:
                break  # close, error
            if (out := reply(msg.data)) is not None:
                await ws.send_str(out)
    finally:
        ticker.cancel()  # everything the handler started ends with it
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await ticker
    await ws.close()
    return ws


# --- raw TCP line protocol ------------------------------------------------------------------


def _line_sender(writer: asyncio.StreamWriter) -> Send:
    async def send(text: str) -> None:
        writer.write(text.encode() + b"\n")
        await writer.drain()

    return send


async def tcp_stream_leaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    send = _line_sender(writer)
    spawn(tick(send, writer.is_closing))  # started here, cancelled nowhere
    while line := await reader.readline():  # no deadline
        if (out := reply(line.decode(errors="replace"))) is not None:
            await send(out)
    writer.close()


async def tcp_stream_fixed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    send = _line_sender(writer)
    ticker = asyncio.create_task(tick(send, writer.is_closing))
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):  # the read deadline
                    line = await reader.readline()
            except TimeoutError:
                break
            if not line:
                break
            if (out := reply(line.decode(errors="replace"))) is not None:
                await send(out)
    finally:
        ticker.cancel()
        writer.close()


# --- wiring ---------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tcp-port", type=int, default=0,
                        help="also serve the raw TCP line protocol on this port (0: off)")


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application()
    leaky = args.variant == "leaky"
    app.router.add_get("/ws/stream", ws_stream_leaky if leaky else ws_stream_fixed)

    async def tcp_server(app: web.Application) -> AsyncIterator[None]:
        server = None
        if args.tcp_port:
            handler = tcp_stream_leaky if leaky else tcp_stream_fixed
            server = await asyncio.start_server(handler, args.host, args.tcp_port)
        yield
        if server is not None:
            server.close()

    app.cleanup_ctx.append(tcp_server)
    return app
