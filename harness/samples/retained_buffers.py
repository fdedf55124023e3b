"""Pattern 3: small slices that keep large buffers alive.

``POST /ingest`` takes one message, ``<id> <payload>`` (a few hundred bytes, at most 64 KiB).
The handler reads the body into a 64 KiB buffer (one allocation of the largest message, no
re-allocation while the body arrives), parses it, and keeps the payload in a recent-messages
log keyed by id, bounded by entry count (``--recent``), for ``GET /messages/{id}`` replays.
``GET /debug/recent`` shows what the log holds.

- ``leaky``: the log keeps ``memoryview`` slices of the read buffer ("zero copy"). Each
  300-byte slice keeps its whole 64 KiB buffer alive, so the "bounded" log pins
  ``--recent`` x 64 KiB: RSS climbs with every new id until the bound is hit far too late.
- ``fixed``: the log keeps ``bytes(view)``, a copy of just the payload; the buffer is freed
  when the handler returns.
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

BUFFER_SIZE = 64 * 1024  # the largest message we accept


@dataclass
class RecentLog:
    """The last ``limit`` payloads by message id (least recently stored dropped first)."""

    limit: int
    entries: OrderedDict[str, bytes | memoryview] = field(default_factory=OrderedDict)

    def put(self, key: str, payload: bytes | memoryview) -> None:
        self.entries[key] = payload
        self.entries.move_to_end(key)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)

    def stats(self) -> dict[str, int]:
        pinned = {id(p.obj): len(p.obj) for p in self.entries.values()  # type: ignore[arg-type]
                  if isinstance(p, memoryview)}
        return {
            "entries": len(self.entries),
            "payload_bytes": sum(len(p) for p in self.entries.values()),
            "pinned_buffer_bytes": sum(pinned.values()),
        }


RECENT = web.AppKey("recent", RecentLog)
COPY_PAYLOAD = web.AppKey("copy_payload", bool)


async def read_into(request: web.Request, buf: bytearray) -> int:
    """Read the request body into ``buf``; the number of bytes read."""
    n = 0
    async for chunk in request.content.iter_any():
        end = n + len(chunk)
        if end > len(buf):
            raise web.HTTPRequestEntityTooLarge(max_size=len(buf), actual_size=end)
        buf[n:end] = chunk
        n = end
    return n


async def ingest(request: web.Request) -> web.Response:
    buf = bytearray(BUFFER_SIZE)
    n = await read_into(request, buf)
    view = memoryview(buf)[:n]
    space = bytes(view[:128]).find(b" ")
    if space <= 0:
        raise web.HTTPBadRequest(text="expected '<id> <payload>'")
    key = bytes(view[:space]).decode("ascii", errors="replace")
    payload = view[space + 1 :]
    if request.app[COPY_PAYLOAD]:
        request.app[RECENT].put(key, bytes(payload))  # a copy of just these bytes
    else:
        request.app[RECENT].put(key, payload)  # zero copy: the slice pins all of buf
    return web.json_response({"id": key, "stored": len(payload)})


async def message(request: web.Request) -> web.Response:
    payload = request.app[RECENT].entries.get(request.match_info["id"])
    if payload is None:
        raise web.HTTPNotFound()
    return web.Response(body=bytes(payload))


async def debug_recent(request: web.Request) -> web.Response:
    return web.json_response(request.app[RECENT].stats())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recent", type=int, default=1000, help="messages the log keeps")


def create_app(args: argparse.Namespace) -> web.Application:
    app = web.Application(client_max_size=BUFFER_SIZE)
    app[RECENT] = RecentLog(limit=args.recent)
    app[COPY_PAYLOAD] = args.variant == "fixed"
    app.router.add_post("/ingest", ingest)
    app.router.add_get("/messages/{id}", message)
    app.router.add_get("/debug/recent", debug_recent)
    return app
