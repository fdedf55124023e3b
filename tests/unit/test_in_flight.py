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


class _Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _wrapped(tracker: InFlight, clock: _Clock, key: list[object], during=None, full_url=False):
    """A session whose request runs ``during(session, args, kwargs)`` mid-flight (an edge,
    a nested call, an event), wrapped by ``tracker.wrap`` with ``key[0]`` as the greenlet."""
    def request(session, *args, **kwargs):
        return during(session, args, kwargs) if during is not None else "ok"
    return tracker.wrap(request, lambda: key[0], full_url=full_url, clock=clock)


def test_a_wrapped_call_stuck_at_an_edge_is_counted_once_under_its_name() -> None:
    """The fast path (one call per greenlet): stuck at the edge, it comes back under the
    name Locust reports and is marked, so the event it fires on completion is dropped;
    the next call of that greenlet is recorded again."""
    tracker, clock, key = InFlight(), _Clock(), ["g"]
    seen: list[object] = []

    def during(session, args, kwargs):
        seen.append(tracker.expire_named(clock() + 5.0))  # an edge while this call hangs
        seen.append(tracker.should_record("g"))  # the call's own request event
        return "late"

    request = _wrapped(tracker, clock, key, during)
    assert request(_Session(), "GET", "/hang", name="hang") == "late"
    assert seen == [[(5.0, ("GET", "hang"))], False]
    assert len(tracker) == 0
    fresh = _wrapped(tracker, clock, key, lambda *_: tracker.should_record("g"))
    assert fresh(_Session(), "GET", "/ok") is True


def test_a_wrapped_call_that_ends_sets_the_bar_for_stuck() -> None:
    """A call that took 3 s when it finished: one 4 s old at the next edge is not stuck."""
    tracker, clock, key = InFlight(), _Clock(), ["g"]

    def slow(session, args, kwargs):
        clock.now += 3.0

    _wrapped(tracker, clock, key, slow)(_Session(), "GET", "/slow")
    assert tracker.stuck_after() == 6.0
    assert len(tracker) == 0
    hang = _wrapped(tracker, clock, key, lambda *_: tracker.expire(clock() + 4.0))
    assert hang(_Session(), "GET", "/slow") == []


def test_catch_response_event_after_a_counted_wrapped_call_is_dropped_once() -> None:
    """catch_response=True: the event fires after request() returns; when the call was
    counted as stuck, that one event is dropped and the next recorded."""
    tracker, clock, key = InFlight(), _Clock(), ["g"]
    request = _wrapped(tracker, clock, key, lambda *_: tracker.expire(clock() + 5.0))
    assert request(_Session(), "GET", "/x", catch_response=True) == [5.0]
    assert tracker.should_record("g") is False
    assert tracker.should_record("g") is True


def test_a_call_nested_in_another_of_its_greenlet_takes_the_general_path() -> None:
    """A second call while the greenlet has one open (or an ``in_flight`` mark): both are
    tracked, the inner one is the one its event belongs to, and both end cleanly."""
    tracker, clock, key = InFlight(), _Clock(), ["g"]
    inner = _wrapped(tracker, clock, key, lambda *_: (
        len(tracker), tracker.expire_named(clock() + 5.0), tracker.should_record("g")))
    outer = _wrapped(tracker, clock, key, lambda s, a, k: inner(s, "GET", "/inner"))
    assert outer(_Session(), "GET", "/outer") == (
        2, [(5.0, ("GET", "/inner")), (5.0, ("GET", "/outer"))], False)
    assert len(tracker) == 0
    mark = tracker.begin("g", clock(), ("WS", "ping"))
    assert _wrapped(tracker, clock, key, lambda *_: len(tracker._stacks["g"]))(
        _Session(), "GET", "/in-mark") == 2
    tracker.end("g", mark, clock())
    assert len(tracker) == 0


def test_a_wrapped_call_still_stuck_at_the_next_edge_counts_again() -> None:
    """Counted at two edges, with its age each time (as the general path does)."""
    tracker, clock, key = InFlight(), _Clock(0.0), ["g"]
    request = _wrapped(tracker, clock, key, lambda *_: (tracker.expire(10.0),
                                                        tracker.expire(20.0)), full_url=True)
    assert request(_Session(), "GET", "http://h/x") == ([10.0], [20.0])
