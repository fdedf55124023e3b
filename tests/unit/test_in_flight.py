"""Requests in flight at a phase edge: stuck ones count as failures, once per phase."""

from __future__ import annotations

from harness.load import InFlight


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
    tracker.expire(110.0)
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
