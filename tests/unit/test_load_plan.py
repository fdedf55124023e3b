"""The load plan and the shape's decisions, at chosen times (no Locust process)."""

from __future__ import annotations

import pytest

from harness.load import (
    InPhase,
    PlanPhase,
    Wait,
    decide,
    decode_plan,
    encode_plan,
    phase_at,
    plan_from_scenario,
)
from harness.scenario import scenario_from_dict

PLAN = [
    PlanPhase("warmup", 10.0, 5, 2.0),
    PlanPhase("chaos", 20.0, 50, 10.0),
    PlanPhase("recovery", 5.0, 0, 10.0),
]


def test_plan_takes_missing_users_and_rate_from_load() -> None:
    """A phase without users/spawn_rate runs load.users at load.spawn_rate."""
    scenario = scenario_from_dict({
        "name": "s", "target": {"sample": "healthy"},
        "load": {"user": "HttpApiUser", "users": 7, "spawn_rate": 3},
        "phases": [{"name": "a", "duration": "2s"}, {"name": "b", "duration": 1, "users": 0,
                                                     "spawn_rate": 9}],
    })
    assert plan_from_scenario(scenario) == [
        PlanPhase("a", 2.0, 7, 3.0), PlanPhase("b", 1.0, 0, 9.0)
    ]


def test_plan_round_trips_through_the_environment() -> None:
    """The plan survives HARNESS_PLAN's JSON unchanged."""
    assert decode_plan(encode_plan(PLAN)) == PLAN


@pytest.mark.parametrize("text", ["", "{}", "[]", '[{"name": "a"}]'])
def test_bad_plan_text_is_a_value_error(text: str) -> None:
    """A malformed HARNESS_PLAN raises ValueError naming the variable."""
    with pytest.raises(ValueError, match="HARNESS_PLAN"):
        decode_plan(text)


@pytest.mark.parametrize(
    ("elapsed", "phase", "edge_in"),
    [(0.0, "warmup", 10.0), (9.5, "warmup", 0.5), (10.0, "chaos", 20.0), (29.9, "chaos", 0.1),
     (30.0, "recovery", 5.0), (34.99, "recovery", 0.01)],
)
def test_phase_at_picks_the_phase_running_then(elapsed: float, phase: str, edge_in: float) -> None:
    """Phase boundaries are half-open: a phase owns [start, end)."""
    run = phase_at(PLAN, elapsed)
    assert run is not None
    assert run.phase.name == phase
    assert run.edge_in == pytest.approx(edge_in)


@pytest.mark.parametrize("elapsed", [-0.1, 35.0, 1000.0])
def test_phase_at_is_none_outside_the_plan(elapsed: float) -> None:
    """Before load start and after the last phase there is no phase."""
    assert phase_at(PLAN, elapsed) is None


def test_decide_waits_with_zero_users_until_load_start_is_known() -> None:
    """Without .load-start the shape holds zero users at the first phase's rate."""
    assert decide(PLAN, now=105.0, load_start=None, waiting_since=100.0) == Wait(2.0)


def test_decide_gives_up_waiting_after_the_limit() -> None:
    """A .load-start that never comes stops Locust instead of hanging for ever."""
    assert decide(PLAN, now=221.0, load_start=None, waiting_since=100.0, wait_limit=120.0) is None


def test_decide_waits_for_a_load_start_in_the_future() -> None:
    """A load start announced ahead of time is waited for, however long ago waiting began."""
    assert decide(PLAN, now=500.0, load_start=501.0, waiting_since=0.0) == Wait(2.0)


def test_decide_runs_the_phase_then_stops_after_the_plan() -> None:
    """After load start the phase for now-load_start runs; after the plan: None (quit)."""
    run = decide(PLAN, now=1015.0, load_start=1000.0, waiting_since=0.0)
    assert isinstance(run, InPhase)
    assert run.tick == (50, 10.0)
    assert decide(PLAN, now=1035.0, load_start=1000.0, waiting_since=0.0) is None
