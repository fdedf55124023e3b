"""Pattern 2: a broadcast stream, clients that read slowly, and no write deadline.

``GET /stream`` is a firehose: a producer publishes ``--rate`` events a second and every
subscriber gets each one rendered for it (its own sequence number and field selection) as a
line of the chunked HTTP response. ``GET /debug/stream`` shows the queues.

- ``leaky``: each subscriber has an unbounded ``asyncio.Queue``; its writer awaits
  ``resp.write()`` with no deadline. A client that reads a few bytes a second (a phone on a
  bad link) cannot drain its queue, so the frames pile up in the server's memory at the feed
  rate for as long as the client stays connected: RSS grows, per slow client.
- ``fixed``: the queue is bounded (frames for a full queue are dropped and counted) and each
  write has a deadline; a client that cannot take a frame within it is disconnected.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

QUEUE_MAX = 64  # fixed: frames a subscriber may lag behind before new ones are dropped
WRITE_TIMEOUT = 2.0  # fixed: a client that takes longer to accept a frame is disconnected


@dataclass(eq=False)  # hashed by identity: one per connection
class Subscriber:
    queue: asyncio.Queue[bytes]
    fields: tuple[str, ...] = ("seq", "ts", "symbol", "price", "book")
    seq: int = 0
    queued_bytes: int = 0
    dropped: int = 0

    def render(self, event: dict[str, object]) -> bytes:
        """This subscriber's frame: its own sequence number and fields."""
        self.seq += 1
        body = {k: event[k] for k in self.fields if k in event} | {"seq": self.seq}
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"


@dataclass
class Hub:
    bounded: bool
    subscribers: set[Subscriber] = field(default_factory=set)

    def subscribe(self) -> Subscriber:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MAX if self.bounded else 0)
        sub = Subscriber(queue)
        self.subscribers.add(sub)
        return sub

    def publish(self, event: dict[str, object]) -> None:
        for sub in self.subscribers:
            frame = sub.render(event)
            try:
                sub.queue.put_nowait(frame)  # unbounded (leaky): never full, never waits
            except asyncio.QueueFull:
                sub.dropped += 1  # fixed: a lagging client loses frames, not our memory
                continue
            sub.queued_bytes += len(frame)

    def stats(self) -> dict[str, int]:
        return {
            "subscribers": len(self.subscribers),
            "queued_frames": sum(s.queue.qsize() for s in self.subscribers),
            "queued_bytes": sum(s.queued_bytes for s in self.subscribers),
            "dropped_frames": sum(s.dropped for s in self.subscribers),
        }


HUB = web.AppKey("hub", Hub)


async def stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    sub = hub.subscribe()
    try:
        while True:
            frame = await sub.queue.get()
            sub.queued_bytes -= len(frame)
            if hub.bounded:
                async with asyncio.timeout(WRITE_TIMEOUT):  # the write deadline
                    await resp.write(frame)
            else:
                await resp.write(frame)  # waits as long as the client takes to read
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()  # too slow: disconnect, free its queue
    finally:
        hub.subscribers.discard(sub)
    return resp


async def debug_stream(request: web.Request) -> web.Response:
    return web.json_response(request.app[HUB].stats())


async def produce(hub: Hub, rate: float, payload_bytes: int) -> None:
    """The feed: ``rate`` events a second, each with a ``payload_bytes`` order book."""
    n = 0
    book = "x" * payload_bytes
    while True:
        n += 1
        hub.publish({"ts": time.time(), "symbol": f"S{n % 50}", "price": n % 1000, "book": book})
        await asyncio.sleep(1.0 / rate)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--payload-bytes", type=int, default=8192, help="bytes per event")


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application()
    app[HUB] = Hub(bounded=args.variant == "fixed")
    app.router.add_get("/stream", stream)
    app.router.add_get("/debug/stream", debug_stream)

    async def producer(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(produce(app[HUB], args.rate, args.payload_bytes))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(producer)
    return app
