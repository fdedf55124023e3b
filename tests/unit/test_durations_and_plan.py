"""Compound durations, and the check plan behind `validate`: how many samples each check
can judge, and which scenarios can never be judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis import MIN_TREND_POINTS, plan_checks, unjudgeable
from harness.scenario import load_scenario, parse_duration, scenario_from_dict

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), ("1d", 86400.0),
    ("1h30m", 5400.0), ("2m30s", 150.0), ("1.5h", 5400.0), ("1h 30m", 5400.0),
    ("1m30s500ms", 90.5), ("0.5m", 30.0), ("10", 10.0), (" 45s ", 45.0), (7, 7.0),
])
def test_compound_durations_parse(text, seconds):
    """Single units, compounds in falling order and decimals all give seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1m30", "30s1m", "1h1h", "h", "", "1x", "-5s", "8d",
                                  "1d1h" * 20, "9" * 400 + "h", True])
def test_bad_durations_are_refused(text):
    """Wrong order, repeated units, no number, negative, over a week: refused."""
    with pytest.raises(ValueError):
        parse_duration(text)


def _scenario(steady: str, **fds: object) -> dict:
    return {
        "name": "short",
        "target": {"name": "api", "sample": "healthy"},
        "load": {"user": "HttpApiUser", "users": 5, "spawn_rate": 5},
        "phases": [{"name": "warmup", "duration": "10s"},
                   {"name": "steady", "duration": steady},
                   {"name": "recovery", "duration": "10s", "users": 0}],
        "thresholds": {"fds": {"max_growth_per_min": 5, **fds}},
    }


@pytest.mark.parametrize(("steady", "fds", "samples"), [
    ("30s", {}, 24),  # auto settle: 20% of 30 s = 6 s
    ("300s", {}, 270),  # auto settle capped at 30 s
    ("10s", {"settle": "0s"}, 10),
    ("10s", {"settle": "0s", "ignore_first": "15s"}, 5),  # 10 s warmup + 5 s of steady
])
def test_growth_sample_count(steady, fds, samples):
    """A growth check counts the samples of its phases after settle and ignore_first."""
    plan = plan_checks(scenario_from_dict(_scenario(steady, **fds)))
    growth = next(p for p in plan if p.check == "growth")
    assert (growth.samples, growth.phases, growth.need) == (samples, ("steady",), MIN_TREND_POINTS)


def test_too_short_names_threshold_phase_and_fix():
    """A phase too short for a growth check is named with its count and what to change."""
    lines = unjudgeable(scenario_from_dict(_scenario("5s")))
    assert lines == [
        "thresholds.fds: phase 'steady' gives 4 samples after settle (need >= 6 for a growth "
        "check; settle 1s, sample_interval 1s): lengthen it or lower settle"]


def test_duration_scale_and_set_apply_before_the_plan():
    """--duration-scale and --set shape the plan: a judgeable scenario scaled down is not."""
    raw = _scenario("30s")
    assert unjudgeable(scenario_from_dict(raw)) == []
    assert unjudgeable(scenario_from_dict(raw, duration_scale=0.1))
    assert unjudgeable(scenario_from_dict(raw, sets=["phases[1].duration=3s"]))


def test_recovery_baseline_and_rate_baseline_are_planned():
    """A warmup too short for a recovery baseline, or for a whole second of request rate
    after the users' ramp, is refused naming that phase."""
    raw = _scenario("30s", recover_within="5s", ignore_first="9s")
    raw["thresholds"]["fds"]["settle"] = "0s"
    lines = unjudgeable(scenario_from_dict(raw))
    assert any("phase 'warmup' gives 1 baseline samples" in line for line in lines), lines
    raw = _scenario("30s")
    raw["phases"][0]["duration"] = "1s"
    raw["load"]["spawn_rate"] = 1  # 5 users at 1/s: a 6 s ramp
    lines = unjudgeable(scenario_from_dict(raw))
    assert any("thresholds.request_rate: phase 'warmup'" in line for line in lines), lines


BUNDLED = sorted([*REPO.glob("scenarios/*.yaml"), *REPO.glob("scenarios/examples/*/*.yaml")])


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_scenario_can_be_judged(path):
    """Every scenario we ship plans every check with enough samples at full length."""
    assert unjudgeable(load_scenario(path)) == []


def test_nightly_is_a_real_soak():
    """scenarios/nightly.yaml: 30 minutes and up, slow-leak limits, every check judgeable."""
    scenario = load_scenario(REPO / "scenarios/nightly.yaml")
    assert scenario.duration >= 30 * 60
    assert unjudgeable(scenario) == []
    growth = [p for p in plan_checks(scenario) if p.check == "growth"]
    assert growth and all(p.samples >= 25 * 60 for p in growth)
    assert scenario.thresholds["fds"].max_growth_per_min <= 0.3
