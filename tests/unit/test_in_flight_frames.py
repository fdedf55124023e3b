"""Requests in flight found by their frames at a phase edge (the plugin's way for Locust's
HTTP sessions: nothing runs per request). Real greenlets suspended inside a function with
the locals Locust's ``Session.request`` has; the same against Locust's own sessions is in
test_in_flight_locust.py."""

from __future__ import annotations

import sys
from types import FrameType

import greenlet
import pytest

from harness.load import InFlight


class _Session:
    request_name = None


class _Wire:
    """What a test's fake request does while "on the wire": it switches back to the test
    and, when resumed, fires its event (or raises) as Locust's request does."""

    def __init__(self, tracker: InFlight) -> None:
        self.tracker = tracker
        self.now = 100.0
        self.events: list[bool] = []  # what should_record said for each event

    def event(self) -> None:
        key = greenlet.getcurrent()
        self.events.append(self.tracker.should_record(key, sys._getframe()))


def _request(wire: _Wire):
    def request(self, method, url, name=None, catch_response=False, fail=False):
        start_time = wire.now
        greenlet.getcurrent().parent.switch()  # waiting for the answer
        if fail:
            raise ConnectionError("reset")  # ended without its event
        if not catch_response:
            wire.event()
            return start_time
        return "context"  # Locust's ResponseContextManager: the event fires on its exit

    return request


def _user(request, *calls):
    """A greenlet making ``calls`` (args, kwargs) one after the other; a catch_response
    call's event fires after it returns, as Locust's context manager does."""
    def run(wire: _Wire) -> None:
        for args, kwargs in calls:
            try:
                request(_Session(), *args, **kwargs)
            except ConnectionError:
                continue
            if kwargs.get("catch_response"):
                wire.event()
    return greenlet.greenlet(run)


def _frames(*users: greenlet.greenlet) -> list[tuple[object, FrameType]]:
    return [(u, u.gr_frame) for u in users if u.gr_frame is not None]


def _setup(full_url: bool = False):
    tracker = InFlight()
    wire = _Wire(tracker)
    request = _request(wire)
    assert tracker.watch(request.__code__, full_url=full_url)
    return tracker, wire, request


def test_a_request_found_stuck_at_the_edge_is_counted_under_its_name_and_its_event_dropped():
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/hang?x=1"), {}), (("GET", "/next"), {}))
    young = _user(request, (("GET", "/young"), {"name": "young"}))
    user.switch(wire)
    wire.now = 104.5
    young.switch(wire)
    stuck = tracker.expire_named(105.0, frames=_frames(user, young))
    assert stuck == [(5.0, ("GET", "/hang?x=1"))]  # HttpSession's name: path and query
    assert tracker.any_counted
    user.switch()  # the answer comes: its event is dropped, the next request is made
    assert wire.events == [False]
    user.switch()  # the next request's event is recorded
    young.switch()
    assert wire.events == [False, True, True]
    assert user.dead and young.dead


def test_the_name_follows_the_session_kind():
    """FastHttpSession (full_url) reports the URL as given; an explicit name wins."""
    tracker, wire, request = _setup(full_url=True)
    a = _user(request, (("GET", "http://h/a?b=1"), {}))
    b = _user(request, (("POST", "/b"), {"name": "bee"}))
    a.switch(wire)
    b.switch(wire)
    stuck = tracker.expire_named(110.0, frames=_frames(a, b))
    assert sorted(stuck) == [(10.0, ("GET", "http://h/a?b=1")), (10.0, ("POST", "bee"))]


def test_catch_response_event_after_a_counted_request_returned_is_dropped_once():
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/x"), {"catch_response": True}), (("GET", "/y"), {}))
    user.switch(wire)
    assert tracker.expire_named(110.0, frames=_frames(user)) == [(10.0, ("GET", "/x"))]
    # an edge between its return and its event keeps the mark: nothing is stuck now
    user.switch()
    assert wire.events == [False]
    user.switch()
    assert wire.events == [False, True]


def test_a_counted_request_that_ends_without_its_event_leaves_the_next_one_recorded():
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/x"), {"fail": True}), (("GET", "/y"), {}))
    user.switch(wire)
    assert len(tracker.expire_named(110.0, frames=_frames(user))) == 1
    user.switch()  # /x raised; /y starts and waits
    user.switch()
    assert wire.events == [True]


def test_a_request_still_stuck_at_the_next_edge_counts_again_and_its_event_once():
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/x"), {}))
    user.switch(wire)
    assert tracker.expire_named(110.0, frames=_frames(user)) == [(10.0, ("GET", "/x"))]
    assert tracker.expire_named(120.0, frames=_frames(user)) == [(20.0, ("GET", "/x"))]
    user.switch()
    assert wire.events == [False]


def test_the_bar_for_stuck_is_the_slowest_request_seen_since_the_last_edge():
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/x"), {}))
    user.switch(wire)
    tracker.saw(3.0)  # a request that finished took 3 s: 6 s is normal in this phase
    assert tracker.expire_named(104.0, frames=_frames(user)) == []
    assert tracker.expire_named(110.0, frames=_frames(user)) == [(10.0, ("GET", "/x"))]


def test_a_greenlet_inside_an_in_flight_mark_is_left_to_the_mark():
    """A session call inside ``in_flight()``: the mark is counted, not the call too."""
    tracker, wire, request = _setup()
    user = _user(request, (("GET", "/x"), {}))
    user.switch(wire)
    tracker.begin(user, 100.0, ("WS", "ping"))
    assert tracker.expire_named(110.0, frames=_frames(user)) == [(10.0, ("WS", "ping"))]


def test_a_request_not_sent_yet_is_not_stuck():
    """Suspended before its start_time is set (a function that waits first)."""
    tracker = InFlight()

    def request(self, method, url, name=None, catch_response=False):
        greenlet.getcurrent().parent.switch()
        start_time = 0.0
        return start_time

    assert tracker.watch(request.__code__, full_url=False)
    user = greenlet.greenlet(lambda: request(_Session(), "GET", "/"))
    user.switch()
    assert tracker.expire_named(110.0, frames=_frames(user)) == []


@pytest.mark.parametrize("missing", ["start_time", "catch_response", "name"])
def test_a_request_function_without_the_locals_read_is_refused(missing):
    """A Locust whose ``request`` lacks a local read at the edge is wrapped instead."""
    namespace: dict[str, object] = {}
    params = [p for p in ("self", "method", "url", "name", "catch_response") if p != missing]
    body = "    start_time = 0.0\n" if missing != "start_time" else "    pass\n"
    exec(f"def request({', '.join(params)}):\n{body}", namespace)
    assert InFlight().watch(namespace["request"].__code__, full_url=False) is False
