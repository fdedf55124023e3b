"""Requests still in flight: a hung target must fail P99 and the error ratio.

Locust fires its ``request`` event when a request *ends*; one that never ends is never
counted, so a frozen target looked fast and error-free. Locust has no request-start event,
so the plugin tracks starts itself (pure logic here, no Locust import):

- every request made through Locust's ``HttpSession`` or ``FastHttpSession`` (``HttpUser``,
  ``FastHttpUser``: the bundled HTTP users and any custom user built on them) is wrapped at
  the class level: ``begin`` before it, ``end`` after it;
- other users mark an exchange with ``harness.load.in_flight()`` (the bundled WebSocket
  users do).

At each phase edge (and when the run ends) the requests that have been in flight longer
than ``max(STUCK_FLOOR_S, STUCK_FACTOR x the slowest request that finished since the last
edge)`` are *stuck*: recorded as failures with their age as response time, in the last
whole second of the phase, and marked, so that their own event, if it ever comes, is not
counted a second time. A request still stuck at the next edge is counted again there (it
was in flight through that phase too). The adaptive part keeps a slow-but-working target
(every request takes 5 s) from having its normal in-flight requests counted at each edge;
a hung one is counted as soon as its requests outlive what the phase has shown is normal.

Keys name the caller (the current greenlet): one greenlet has one request in progress at a
time (nested marks stack), and the request event is fired in the greenlet that made it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

STUCK_FLOOR_S: Final = 1.0  # a request younger than this at an edge is never stuck
STUCK_FACTOR: Final = 2.0  # ... nor one younger than twice the slowest recent request


@dataclass
class Pending:
    """One request in flight."""

    started: float  # epoch seconds
    counted: bool = False  # recorded as stuck: its own event is dropped
    event_seen: bool = False


@dataclass
class InFlight:
    """The requests of one Locust process that started and have not ended."""

    _open: dict[int, Pending] = field(default_factory=dict)
    _stacks: dict[object, list[int]] = field(default_factory=dict)  # key -> open tokens
    _suppress: set[object] = field(default_factory=set)  # keys whose next event is dropped
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    slowest: float = 0.0  # seconds: the slowest request that ended since the last edge

    def __len__(self) -> int:
        return len(self._open)

    def begin(self, key: object, now: float) -> int:
        """A request starts in ``key``; returns the token to end it with."""
        token = next(self._ids)
        self._open[token] = Pending(now)
        self._stacks.setdefault(key, []).append(token)
        return token

    def end(self, key: object, token: int, now: float, event_follows: bool = False) -> None:
        """The request ended. ``event_follows``: its request event fires only after this
        (Locust's ``catch_response=True``), so if it was counted as stuck, drop that one."""
        pending = self._open.pop(token, None)
        stack = self._stacks.get(key)
        if stack is not None:
            if token in stack:
                stack.remove(token)
            if not stack:
                del self._stacks[key]
        if pending is None:
            return
        if pending.counted:
            if event_follows and not pending.event_seen:
                self._suppress.add(key)
        else:
            self.slowest = max(self.slowest, now - pending.started)

    def should_record(self, key: object) -> bool:
        """For the request listener, in the greenlet that fired the event: False when the
        request was already recorded as stuck."""
        stack = self._stacks.get(key)
        if stack:
            pending = self._open[stack[-1]]
            if pending.counted:
                pending.event_seen = True
                return False
            return True
        if key in self._suppress:
            self._suppress.discard(key)
            return False
        return True

    def stuck_after(self, floor: float = STUCK_FLOOR_S, factor: float = STUCK_FACTOR) -> float:
        """Seconds after which a request in flight counts as stuck at an edge now."""
        return max(floor, factor * self.slowest)

    def expire(self, at: float, floor: float = STUCK_FLOOR_S,
               factor: float = STUCK_FACTOR) -> list[float]:
        """At an edge (epoch ``at``): the ages (seconds) of the stuck requests, marked as
        counted. Starts a new 'slowest' for the next phase."""
        limit = self.stuck_after(floor, factor)
        ages: list[float] = []
        for pending in self._open.values():
            age = at - pending.started
            if age > limit:
                pending.counted = True
                ages.append(age)
        self.slowest = 0.0
        return ages


TRACKER: Final = InFlight()  # this Locust process's requests in flight


@contextmanager
def in_flight() -> Iterator[None]:
    """Mark one exchange of a custom (non-HTTP) user as in flight until the block ends.

    Fire the exchange's request event inside the block: if the exchange was still running
    at a phase edge and was recorded there as stuck, that event is dropped (it was counted).
    ``HttpUser``/``FastHttpUser`` requests are tracked without this.
    """
    import gevent  # only ever called inside a Locust process

    key = gevent.getcurrent()
    token = TRACKER.begin(key, time.time())
    try:
        yield
    finally:
        TRACKER.end(key, token, time.time())
