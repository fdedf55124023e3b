"""Requests still in flight: a hung target must fail P99 and the error ratio.

Locust fires its ``request`` event when a request *ends*; one that never ends is never
counted, so a frozen target looked fast and error-free. Locust has no request-start event,
and a hook on every request costs the users' own core (a wrapper around each session call
cost ~3% of a Locust worker's time on a fast server), so the plugin looks for requests in
flight only at a phase edge, where they matter (pure logic here, no Locust import):

- requests made through Locust's ``HttpSession`` or ``FastHttpSession`` (``HttpUser``,
  ``FastHttpUser``: the bundled HTTP users and any custom user built on them) are *found*:
  at an edge every suspended greenlet's frames are walked for a running
  ``Session.request`` (its code object, :meth:`InFlight.watch`), which says when the
  request started (its ``start_time`` local), its method, URL and name, and whether its
  event comes after it returns (``catch_response``). Nothing runs per request. When a
  Locust version lacks those locals, :meth:`InFlight.watch` refuses and the plugin wraps
  ``request`` instead (:meth:`InFlight.wrap`: ``begin`` before, ``end`` after);
- other users mark an exchange with ``harness.load.in_flight()`` (the bundled WebSocket
  users do); a greenlet inside such a mark is not searched for session calls: the mark
  is what it waits on.

At each phase edge (and when the run ends) the requests that have been in flight longer
than ``max(STUCK_FLOOR_S, STUCK_FACTOR x the slowest request that finished since the last
edge)`` are *stuck*: recorded as failures with their age as response time, in the last
whole second of the phase, and marked, so that their own event, if it ever comes, is not
counted a second time. A request still stuck at the next edge is counted again there (it
was in flight through that phase too). The adaptive part keeps a slow-but-working target
(every request takes 5 s) from having its normal in-flight requests counted at each edge;
a hung one is counted as soon as its requests outlive what the phase has shown is normal.
The slowest finished request comes from the request events (the plugin's accumulator,
:meth:`InFlight.saw`) and from the marks' own ends.

A request's ``(request_type, name)`` (the name Locust will report; ``in_flight("WS",
"ping")``) goes with it, so a stuck request is recorded under its own name too and a
per-name error ratio sees it.

Keys name the caller (the current greenlet): one greenlet has one request in progress at a
time (nested marks stack), and the request event is fired in the greenlet that made it.
A found request counted as stuck is remembered by its greenlet and frame: the request
event that greenlet fires next is dropped when it comes from inside that frame (the
frame is on the event's stack) or, for ``catch_response=True``, after it returned.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any, Final
from urllib.parse import urlsplit

STUCK_FLOOR_S: Final = 1.0  # a request younger than this at an edge is never stuck
STUCK_FACTOR: Final = 2.0  # ... nor one younger than twice the slowest recent request
# the locals a session's request function must have for its calls to be found by frame
SESSION_LOCALS: Final = ("self", "method", "url", "name", "catch_response", "start_time")


@dataclass(slots=True)
class Pending:
    """One request in flight."""

    started: float  # epoch seconds
    name: tuple[str, str] | None = None  # (request_type, name), when known at the start
    counted: bool = False  # recorded as stuck: its own event is dropped
    event_seen: bool = False
    call: tuple[Any, tuple[Any, ...], dict[str, Any], bool] | None = None  # see begin_call


# a session call in flight on the fast path: (started, session, args, kwargs, full_url)
Call = tuple[float, Any, tuple[Any, ...], dict[str, Any], bool]


@dataclass(slots=True)
class Found:
    """A session call found by its frame at an edge and counted as stuck."""

    frame: FrameType  # the running Session.request
    catch_response: bool  # its event fires after it returns


@dataclass
class InFlight:
    """The requests of one Locust process that started and have not ended."""

    # key -> its one session call (wrap's fast path); a Pending once counted as stuck
    _calls: dict[object, Call | Pending] = field(default_factory=dict)
    _open: dict[int, Pending] = field(default_factory=dict)
    _stacks: dict[object, list[int]] = field(default_factory=dict)  # key -> open tokens
    _suppress: set[object] = field(default_factory=set)  # keys whose next event is dropped
    # id(code) of each watched session request -> (code, full_url): looked up by identity
    # (a code object's own hash walks its bytecode and constants)
    _codes: dict[int, tuple[CodeType, bool]] = field(default_factory=dict)
    _found: dict[object, Found] = field(default_factory=dict)  # key -> its counted call
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    slowest: float = 0.0  # seconds: the slowest request that ended since the last edge
    # True from the first request counted as stuck on: until then no request event can be
    # one to drop, and the listener skips should_record (it runs once per request)
    any_counted: bool = False

    def __len__(self) -> int:
        return len(self._open) + len(self._calls)

    def watch(self, code: CodeType, *, full_url: bool) -> bool:
        """Find the running calls of a session's ``request`` (its ``code``) at each edge.
        False (nothing watched) when the function lacks one of ``SESSION_LOCALS``: the
        caller then tracks it with :meth:`wrap`. ``full_url``: named as FastHttpSession."""
        if not all(local in code.co_varnames for local in SESSION_LOCALS):
            return False
        self._codes[id(code)] = (code, full_url)
        return True

    @property
    def watching(self) -> bool:
        """Whether any session's calls are found by frame (then pass ``frames`` to
        :meth:`expire_named`)."""
        return bool(self._codes)

    def saw(self, seconds: float) -> None:
        """A request that finished took ``seconds``: it sets the bar for stuck."""
        if seconds > self.slowest:
            self.slowest = seconds

    def wrap(self, original: Callable[..., Any], getcurrent: Callable[[], object], *,
             full_url: bool, clock: Callable[[], float] = time.time) -> Callable[..., Any]:
        """``original`` (a session's ``request(self, method, url, ...)``) tracked from its
        start to its end in the caller's key (``getcurrent()``: its greenlet); a stuck one
        is named as :func:`request_name` would (``full_url``: FastHttpSession)."""
        calls, stacks = self._calls, self._stacks

        @functools.wraps(original)
        def request(session: Any, *args: Any, **kwargs: Any) -> Any:
            key = getcurrent()
            if key in calls or key in stacks:  # nested in another request of this key
                token = self.begin_call(key, clock(), session, args, kwargs, full_url)
                try:
                    return original(session, *args, **kwargs)
                finally:
                    self.end(key, token, clock(), bool(kwargs.get("catch_response")))
            call = (clock(), session, args, kwargs, full_url)
            calls[key] = call
            try:
                return original(session, *args, **kwargs)
            finally:
                ended = calls.pop(key)
                if ended is call:
                    took = clock() - call[0]
                    if took > self.slowest:
                        self.slowest = took
                elif (kwargs.get("catch_response") and isinstance(ended, Pending)
                      and not ended.event_seen):
                    self._suppress.add(key)  # counted as stuck; its event is still to come

        return request

    def begin(self, key: object, now: float, name: tuple[str, str] | None = None) -> int:
        """A request (``(request_type, name)`` when known) starts in ``key``; returns the
        token to end it with."""
        return self._push(key, Pending(now, name))

    def begin_call(self, key: object, now: float, session: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any], full_url: bool) -> int:
        """:meth:`begin` for ``session.request(*args, **kwargs)``: its name is worked out
        (:func:`request_name`) only if the request is ever stuck, not on every request."""
        return self._push(key, Pending(now, None, False, False, (session, args, kwargs, full_url)))

    def _push(self, key: object, pending: Pending) -> int:
        token = next(self._ids)
        self._open[token] = pending
        stack = self._stacks.get(key)
        if stack is None:
            self._stacks[key] = [token]
        else:
            stack.append(token)
        return token

    def end(self, key: object, token: int, now: float, event_follows: bool = False) -> None:
        """The request ended. ``event_follows``: its request event fires only after this
        (Locust's ``catch_response=True``), so if it was counted as stuck, drop that one."""
        pending = self._open.pop(token, None)
        stack = self._stacks.get(key)
        if stack is not None:
            if stack[-1] == token:
                stack.pop()
            elif token in stack:
                stack.remove(token)
            if not stack:
                del self._stacks[key]
        if pending is None:
            return
        if pending.counted:
            if event_follows and not pending.event_seen:
                self._suppress.add(key)
        elif now - pending.started > self.slowest:
            self.slowest = now - pending.started

    def should_record(self, key: object, frame: FrameType | None = None) -> bool:
        """For the request listener, in the greenlet that fired the event (``frame``: the
        listener's own, whose stack is searched for a counted call): False when the
        request was already recorded as stuck."""
        found = self._found.pop(key, None)
        if found is not None and (found.catch_response or _on_stack(found.frame, frame)):
            return False
        # (a counted call not on the stack ended without its event: this one is new)
        stack = self._stacks.get(key)
        if stack:  # innermost: the fast path is never taken while a key has a stack
            pending = self._open[stack[-1]]
            if pending.counted:
                pending.event_seen = True
                return False
            return True
        call = self._calls.get(key)
        if call is not None:
            if isinstance(call, Pending):  # counted as stuck
                call.event_seen = True
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
        return [age for age, _ in self.expire_named(at, floor, factor)]

    def expire_named(self, at: float, floor: float = STUCK_FLOOR_S, factor: float = STUCK_FACTOR,
                     frames: Iterable[tuple[object, FrameType]] = (),
                     ) -> list[tuple[float, tuple[str, str] | None]]:
        """``expire`` with each stuck request's ``(request_type, name)`` (None: unknown).
        ``frames``: each suspended greenlet (key) with its innermost frame, searched for
        the watched sessions' calls."""
        limit = self.stuck_after(floor, factor)
        stuck: list[tuple[float, tuple[str, str] | None]] = []
        if self._codes:
            stuck.extend(self._expire_frames(at, limit, frames))
        for pending in self._open.values():
            age = at - pending.started
            if age > limit:
                pending.counted = self.any_counted = True
                if pending.call is not None:
                    session, args, kwargs, full_url = pending.call
                    pending.name = request_name(session, args, kwargs, full_url=full_url)
                    pending.call = None
                stuck.append((age, pending.name))
        for key, call in list(self._calls.items()):
            if isinstance(call, Pending):  # counted at an earlier edge, still in flight
                if at - call.started > limit:
                    stuck.append((at - call.started, call.name))
                continue
            started, session, args, kwargs, full_url = call
            if at - started > limit:
                name = request_name(session, args, kwargs, full_url=full_url)
                self._calls[key] = Pending(started, name, counted=True)
                self.any_counted = True
                stuck.append((at - started, name))
        self.slowest = 0.0
        return stuck

    def _expire_frames(self, at: float, limit: float, frames: Iterable[tuple[object, FrameType]],
                       ) -> list[tuple[float, tuple[str, str] | None]]:
        stuck: list[tuple[float, tuple[str, str] | None]] = []
        found: dict[object, Found] = {}
        codes = self._codes
        for key, top in frames:
            if key in self._stacks:
                continue  # inside an in_flight mark: the mark is what it waits on
            frame: FrameType | None = top
            while frame is not None and id(frame.f_code) not in codes:
                frame = frame.f_back
            if frame is None:
                continue
            local = frame.f_locals
            started = local.get("start_time")
            if not isinstance(started, float) or at - started <= limit:
                earlier = self._found.get(key)
                if earlier is not None and earlier.frame is frame:
                    found[key] = earlier  # counted before, not stuck by today's bar: still marked
                continue  # not sent yet, or not stuck
            name = request_name(local.get("self"),
                                (local.get("method"), local.get("url"), local.get("name")), {},
                                full_url=codes[id(frame.f_code)][1])
            found[key] = Found(frame, bool(local.get("catch_response")))
            stuck.append((at - started, name))
        for key, earlier in self._found.items():
            # counted at an earlier edge and returned since: its event (catch_response)
            # may still come, unless its greenlet is gone
            if key not in found and earlier.catch_response and not getattr(key, "dead", False):
                found[key] = earlier
        self._found = found
        if found:
            self.any_counted = True
        return stuck


def _on_stack(frame: FrameType, top: FrameType | None) -> bool:
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False


def request_name(session: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *,
                 full_url: bool) -> tuple[str, str] | None:
    """``(request_type, name)`` that Locust will report for ``session.request(method, url,
    name=None, ...)``: the explicit name, else the session's ``rename_request`` name, else
    the URL (HttpSession: its path and query; FastHttpSession, ``full_url``: as given).
    None when the call does not say (the request then counts in the total only if stuck)."""
    method = kwargs.get("method", args[0] if args else None)
    url = kwargs.get("url", args[1] if len(args) > 1 else None)
    name = kwargs.get("name", args[2] if len(args) > 2 else None)
    if method is None or url is None:
        return None
    if isinstance(method, bytes):
        method = method.decode("latin-1")
    if isinstance(url, bytes):
        url = url.decode("latin-1")
    name = name or getattr(session, "request_name", None)
    if not name:
        if full_url:
            name = str(url)
        else:
            parts = urlsplit(str(url))
            name = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return str(method), str(name)


TRACKER: Final = InFlight()  # this Locust process's requests in flight


@contextmanager
def in_flight(request_type: str | None = None, name: str | None = None) -> Iterator[None]:
    """Mark one exchange of a custom (non-HTTP) user as in flight until the block ends.

    Fire the exchange's request event inside the block: if the exchange was still running
    at a phase edge and was recorded there as stuck, that event is dropped (it was counted).
    Give the ``request_type`` and ``name`` that event will carry, and a stuck exchange is
    recorded under that name too (else in the total only).
    ``HttpUser``/``FastHttpUser`` requests are tracked without this.
    """
    import gevent  # only ever called inside a Locust process

    key = gevent.getcurrent()
    named = (request_type or "", name) if name is not None else None
    token = TRACKER.begin(key, time.time(), named)
    try:
        yield
    finally:
        TRACKER.end(key, token, time.time())
