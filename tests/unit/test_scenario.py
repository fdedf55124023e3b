"""Scenario parsing and validation: every bad field is named, before anything starts."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import (
    FAULT_TYPES,
    load_scenario,
    parse_duration,
    parse_fraction,
    scenario_from_dict,
)

BASE = {
    "name": "t",
    "target": {"name": "api", "sample": "healthy"},
    "proxies": [{"name": "front", "upstream": "api"}],
    "load": {"user": "HttpApiUser", "users": 5},
    "phases": [
        {"name": "warmup", "duration": "5s"},
        {"name": "chaos", "duration": "1m",
         "faults": [{"proxy": "front", "type": "latency", "attributes": {"latency": 100}}]},
        {"name": "recovery", "duration": 10, "users": 0},
    ],
    "thresholds": {"p99_ms": {"max": 250, "phases": ["warmup"]},
                   "tasks": {"max_growth_per_min": 5, "recover_within": "15s",
                             "tolerance": "10%"}},
}


def errors_for(mutate) -> list[str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    return info.value.errors


@pytest.mark.parametrize(("text", "seconds"), [
    ("10s", 10.0), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5), (7, 7.0), ("1.5m", 90.0),
])
def test_parse_duration(text, seconds):
    """Durations accept s, m, h, ms and bare seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10x", "", "-1s", True, None, "ten"])
def test_parse_duration_rejects(bad):
    """Anything that is not a duration is refused with a message."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), (0.25, 0.25), ("0.5", 0.5)])
def test_parse_fraction(text, value):
    """Tolerances accept percentages and plain fractions."""
    assert parse_fraction(text) == pytest.approx(value)


def test_valid_scenario_resolves_types():
    """A valid scenario gets typed durations, fractions and totals."""
    scenario = scenario_from_dict(BASE)
    assert [p.duration for p in scenario.phases] == [5.0, 60.0, 10.0]
    assert scenario.duration == 75.0
    assert scenario.thresholds["tasks"].tolerance == pytest.approx(0.10)
    assert scenario.thresholds["tasks"].recover_within == 15.0


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["phases"][1]["faults"][0].update(type="latancy"),
     "phases[1].faults[0].type: unknown toxic 'latancy' (did you mean 'latency'?)"),
    (lambda d: d["phases"][1]["faults"][0].update(attributes={"latncy": 5}),
     "phases[1].faults[0].attributes.latncy: not an attribute of 'latency'"),
    (lambda d: d["phases"][1]["faults"][0].update(attributes={"latency": "slow"}),
     "phases[1].faults[0].attributes.latency: must be an integer"),
    (lambda d: d["phases"][1]["faults"][0].update(type="bandwidth", attributes={"rate": 0}),
     "rate <= 0 means no limit"),
    (lambda d: d["phases"][1]["faults"][0].update(type="slicer", attributes={}),
     "'slicer' needs attributes: average_size"),
    (lambda d: d["phases"][0].update(duration="10x"), "phases[0].duration: expected a duration"),
    (lambda d: d["phases"][0].update(colour="red"), "phases[0].colour: unknown key"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d["target"].update(sample="gatewy"), "target.sample: unknown sample 'gatewy'"),
    (lambda d: d["target"].update(command=["x"]), "give exactly one of sample"),
    (lambda d: d["load"].update(users=-1), "load.users"),
    (lambda d: d["phases"][1]["faults"][0].update(stream="sideways"),
     "phases[1].faults[0].stream"),
    (lambda d: d["phases"][1]["faults"][0].update(toxicity=2), "phases[1].faults[0].toxicity"),
    (lambda d: d["phases"][1]["faults"][0].update(type="down", attributes={"x": 1}),
     "'down' takes no attributes"),
    (lambda d: d["thresholds"].update(p99_ms={}), "thresholds.p99_ms: sets no limit"),
])
def test_field_errors_name_the_path(mutate, expected):
    """Each field error names its path in the scenario."""
    errors = errors_for(mutate)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["phases"][1]["faults"][0].update(proxy="frnt"),
     "phases[1].faults[0].proxy: no proxy named 'frnt' (did you mean 'front'?)"),
    (lambda d: d["proxies"][0].update(upstream="apx"), "proxies[0].upstream: 'apx'"),
    (lambda d: d["thresholds"].update(taks={"max": 1}),
     "thresholds.taks: no target samples a metric named 'taks' (did you mean 'tasks'?)"),
    (lambda d: d["thresholds"]["p99_ms"].update(phases=["warmpu"]),
     "thresholds.p99_ms.phases: no phase named 'warmpu' (did you mean 'warmup'?)"),
    (lambda d: d["load"].update(host="back"), "load.host: 'back' is neither a proxy"),
    (lambda d: d["phases"].append({"name": "warmup", "duration": 1}),
     "phases: name 'warmup' used twice"),
])
def test_cross_reference_errors(mutate, expected):
    """References between sections (proxies, phases, metrics) are checked too."""
    errors = errors_for(mutate)
    assert any(expected in e for e in errors), errors


def test_every_toxic_type_is_known():
    """All seven Toxiproxy 2.12 toxics and the `down` fault are accepted."""
    assert set(FAULT_TYPES) == {"latency", "bandwidth", "slow_close", "timeout", "reset_peer",
                                "slicer", "limit_data", "down"}


def test_set_overrides_and_duration_scale():
    """--set edits any field before validation; --duration-scale scales every phase."""
    scenario = scenario_from_dict(BASE, sets=["load.users=42", "phases[1].duration=20s"],
                                  duration_scale=0.5)
    assert scenario.load.users == 42
    assert [p.duration for p in scenario.phases] == [2.5, 10.0, 5.0]


def test_set_rejects_bad_path():
    """A --set path that does not exist is an input error naming it."""
    with pytest.raises(ScenarioError, match="phases"):
        scenario_from_dict(BASE, sets=["phases[9].duration=1s"])


def test_variant_applies_to_sample_targets():
    """--variant sets the variant of every sample target and of the scenario."""
    scenario = scenario_from_dict(BASE, variant="fixed")
    assert scenario.variant == "fixed"
    assert scenario.all_targets[0].variant == "fixed"


def test_yaml_syntax_error_names_the_line(tmp_path: Path):
    """Broken YAML is reported with its line and column."""
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nphases: [\n")
    with pytest.raises(ScenarioError, match="line"):
        load_scenario(path)


def test_missing_file():
    """A scenario that does not exist is named."""
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario("/nonexistent/scenario.yaml")


@pytest.mark.parametrize("path", sorted(Path("scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_scenarios_validate(path: Path):
    """Every bundled scenario validates (both variants where it has them)."""
    scenario = load_scenario(path)
    if scenario.variant is not None:
        for variant in ("leaky", "fixed"):
            assert load_scenario(path, variant=variant).variant == variant


@pytest.mark.parametrize("path", sorted(Path("scenarios/examples").glob("*/*.yaml")),
                         ids=lambda p: p.stem)
def test_example_scenarios_validate_with_both_variants(path: Path):
    """Every example validates leaky and fixed, and starts an executable launcher next to it
    that is given ``{variant}``."""
    for variant in ("leaky", "fixed"):
        scenario = load_scenario(path, variant=variant)
        assert scenario.variant == variant
        command = scenario.all_targets[0].command
        assert command is not None and "{variant}" in command, command
        launcher = Path(command[0])
        assert launcher.parent == path.parent.resolve() and os.access(launcher, os.X_OK)


def test_container_faults_name_a_target():
    """A container fault must name a target of the scenario."""
    errors = errors_for(lambda d: d["phases"][1].update(
        container_faults=[{"target": "apx", "action": "pause"}]))
    assert any("phases[1].container_faults[0].target: no target named 'apx'" in e
               for e in errors), errors


def test_container_faults_need_the_compose_backend():
    """Container kill/pause is refused (exit 2) on any backend but compose, before starting."""
    from harness.backends import make_backend
    from harness.errors import InputError

    data = copy.deepcopy(BASE)
    data["phases"][1]["container_faults"] = [{"target": "api", "action": "kill"}]
    scenario = scenario_from_dict(data)
    with pytest.raises(InputError, match="needs --backend compose") as info:
        make_backend("local", scenario)
    assert info.value.exit_code == 2


def test_an_example_is_found_by_the_name_harness_list_prints():
    """``examples/redis/redis`` (as ``harness list`` prints it) names scenarios/examples/redis/redis.yaml."""
    assert load_scenario("examples/redis/redis").name == "redis-idle-timeout"


@pytest.mark.parametrize("upstream", ["127.0.0.1:99999", "127.0.0.1:0", "[::1]:70000"])
def test_an_upstream_port_out_of_range_names_the_field(upstream: str) -> None:
    """A host:port upstream whose port is not 1-65535 is refused before anything starts."""
    with pytest.raises(ScenarioError, match=r"proxies\[0\]\.upstream: port \d+ .* out of range"):
        scenario_from_dict({"name": "x", "target": {"command": ["true"]},
                            "proxies": [{"name": "front", "upstream": upstream}],
                            "load": {"user": "HttpApiUser"},
                            "phases": [{"name": "a", "duration": "1s"}]})
