"""Requests in flight at a phase edge: stuck ones count as failures, once per phase."""

from __future__ import annotations

import pytest

from harness.load import InFlight, request_name


def test_a_request_older_than_the_floor_is_stuck_at_the_edge() -> None:
    """Two requests in flight at the edge: the 5 s old one is stuck, the 0.1 s one is not."""
    tracker = InFlight()
    tracker.begin("a", 100.0)
    tracker.begin("b", 104.9)
    assert tracker.expire(105.0) == [5.0]


def test_a_stuck_request_s_own_event_is_dropped_and_a_fresh_one_recorded() -> None:
    """Counted at the edge: its completion is not recorded again; the next request is."""
    tracker = InFlight()
    token = tracker.begin("g", 100.0)
    tracker.expire(100.5)  # younger than the floor: not stuck
    assert tracker.any_counted is False  # the listener's fast path: nothing to drop yet
    tracker.expire(110.0)
    assert tracker.any_counted is True
    assert tracker.should_record("g") is False
    tracker.end("g", token, 111.0)
    token = tracker.begin("g", 112.0)
    assert tracker.should_record("g") is True
    tracker.end("g", token, 112.1)
    assert len(tracker) == 0


def test_an_event_fired_after_the_request_returned_is_dropped_too() -> None:
    """catch_response=True fires after request() returns: a counted one is still dropped."""
    tracker = InFlight()
    token = tracker.begin("g", 100.0)
    tracker.expire(110.0)
    tracker.end("g", token, 111.0, event_follows=True)
    assert tracker.should_record("g") is False
    assert tracker.should_record("g") is True


def test_a_slow_phase_raises_the_bar_for_stuck() -> None:
    """Requests that take 3 s when they finish: one 4 s old at the edge is not stuck."""
    tracker = InFlight()
    token = tracker.begin("a", 0.0)
    tracker.end("a", token, 3.0)
    tracker.begin("b", 6.0)
    assert tracker.stuck_after() == 6.0
    assert tracker.expire(10.0) == []
    assert tracker.expire(20.0) == [14.0]  # a new phase: the floor again


def test_a_request_still_stuck_at_the_next_edge_counts_there_again() -> None:
    """In flight through two phases: counted at both edges, with its age each time."""
    tracker = InFlight()
    tracker.begin("a", 0.0)
    assert tracker.expire(10.0) == [10.0]
    assert tracker.expire(20.0) == [20.0]


def test_a_stuck_request_keeps_the_name_it_started_with() -> None:
    """The (type, name) given at the start comes back with the stuck request's age; a
    request started without one comes back unnamed (it counts in the total only)."""
    tracker = InFlight()
    tracker.begin("a", 100.0, ("GET", "/slow"))
    tracker.begin("b", 100.0)
    tracker.begin("c", 104.9, ("GET", "/fast"))
    assert tracker.expire_named(105.0) == [(5.0, ("GET", "/slow")), (5.0, None)]


def test_a_session_call_is_named_only_when_it_is_stuck() -> None:
    """``begin_call`` (the HTTP sessions' wrapper) keeps the call, not its name: a stuck
    call comes back under the name Locust would report; one that ended never needs it, and
    nested calls in one greenlet end in any order."""
    session = _Session()
    tracker = InFlight()
    tracker.begin_call("a", 100.0, session, ("GET", "http://h/slow?x=1"), {}, True)
    tracker.begin_call("b", 100.0, session, ("POST", "/ingest"), {"name": "ingest"}, False)
    outer = tracker.begin_call("c", 100.0, session, ("GET", "/ok"), {}, False)
    inner = tracker.begin_call("c", 100.5, session, ("GET", "/ok2"), {}, False)
    tracker.end("c", outer, 101.0)
    tracker.end("c", inner, 101.0)
    assert len(tracker) == 2
    assert tracker.expire_named(105.0) == [(5.0, ("GET", "http://h/slow?x=1")),
                                           (5.0, ("POST", "ingest"))]


class _Session:
    request_name: str | None = None


@pytest.mark.parametrize(("args", "kwargs", "renamed", "full_url", "expected"), [
    (("GET", "/items/7?full=1"), {}, None, False, ("GET", "/items/7?full=1")),
    (("GET", "http://127.0.0.1:8080/items"), {}, None, False, ("GET", "/items")),
    (("GET", "http://127.0.0.1:8080/items"), {}, None, True, ("GET", "http://127.0.0.1:8080/items")),
    (("POST", "/items/7"), {"name": "/items/[id]"}, None, False, ("POST", "/items/[id]")),
    ((b"GET", "/items/7", "/items/[id]"), {}, None, False, ("GET", "/items/[id]")),
    (("GET", "/items/7"), {}, "/items/(renamed)", False, ("GET", "/items/(renamed)")),
    ((), {"method": "DELETE", "url": "/x"}, None, False, ("DELETE", "/x")),
    ((), {}, None, False, None),
])
def test_the_name_is_the_one_locust_will_report(args, kwargs, renamed, full_url, expected) -> None:
    """An explicit name, else the session's rename_request name, else the URL as Locust
    names it (HttpSession: path and query; FastHttpSession: as given)."""
    session = _Session()
    session.request_name = renamed
    assert request_name(session, args, kwargs, full_url=full_url) == expected
