"""The open model's pure parts: scenario validation, the arrival schedule, the delivery
check on a synthetic run folder, and what an undelivered load does to the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis import analyze
from harness.errors import EXIT_ENVIRONMENT, ScenarioError
from harness.events import EventKind
from harness.load import (
    ARRIVALS_COLUMNS,
    ARRIVALS_FILE,
    arrival_counts,
    arrival_plan,
    decode_arrival,
    encode_arrival,
    intended_offsets,
    plan_from_scenario,
    requested,
)
from harness.run import Run, RunOptions
from harness.runfolder import load_run
from harness.scenario import Scenario, scenario_from_dict
from harness.testing import (
    CallLog,
    FakeBackend,
    FakeLoad,
    SyntheticRun,
    synthetic_summary,
    write_synthetic_run,
)
from harness.verdicts import Verdict, exit_code_for, overall_verdict

BASE: dict[str, object] = {"name": "open", "target": {"sample": "healthy"}}


def open_scenario(load: dict[str, object] | None = None,
                  phases: list[dict[str, object]] | None = None) -> Scenario:
    return scenario_from_dict({
        **BASE,
        "load": {"user": "OpenHttpUser", "arrival_rate": 100, **(load or {})},
        "phases": phases or [{"name": "warmup", "duration": "10s"},
                             {"name": "ramp", "duration": "6s", "arrival_rate": [50, 100, 150]},
                             {"name": "recovery", "duration": "4s", "arrival_rate": 0}],
    })


@pytest.mark.parametrize(("load", "phases", "message"), [
    ({"user": "OpenHttpUser", "arrival_rate": -1}, [{"name": "a", "duration": 5}],
     "load.arrival_rate: each rate must be between 0"),
    ({"user": "OpenHttpUser", "arrival_rate": 5},
     [{"name": "a", "duration": 5, "arrival_rate": []}],
     "phases[0].arrival_rate: give a rate"),
    ({"user": "OpenHttpUser", "arrival_rate": 5},
     [{"name": "a", "duration": 5, "users": 3}], "phases[0].users: the open model"),
    ({"user": "OpenHttpUser", "arrival_rate": 5, "users": 4},
     [{"name": "a", "duration": 5}], "load.users: the open model"),
    ({"user": "HttpApiUser", "arrival_rate": 5}, [{"name": "a", "duration": 5}],
     "load.user: 'HttpApiUser' runs closed-model"),
    ({"user": "OpenHttpUser"}, [{"name": "a", "duration": 5}],
     "load.user: OpenHttpUser needs an arrival rate"),
    ({"user": "OpenHttpUser", "arrival_rate": 5, "max_in_flight": 0},
     [{"name": "a", "duration": 5}], "max_in_flight"),
])
def test_open_model_scenarios_are_refused_naming_the_field(load, phases, message):
    """Every open-model mistake is refused before anything starts, naming the field."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({**BASE, "load": load, "phases": phases})
    assert message in str(info.value)


def test_a_phase_without_a_rate_takes_the_load_rate_and_steps_split_the_phase():
    """Phases inherit load.arrival_rate; a list of rates is equal steps over the phase."""
    scenario = open_scenario()
    plan = arrival_plan(scenario)
    assert plan is not None
    assert [(s.start, s.end, s.rate, s.phase) for s in plan.steps] == [
        (0.0, 10.0, 100.0, "warmup"), (10.0, 12.0, 50.0, "ramp"), (12.0, 14.0, 100.0, "ramp"),
        (14.0, 16.0, 150.0, "ramp"), (16.0, 20.0, 0.0, "recovery")]
    assert requested(plan.steps, 0.0, 20.0) == pytest.approx(1000 + 600)
    assert [scenario.users_in(p) for p in scenario.phases] == [100, 100, 0]
    assert decode_arrival(encode_arrival(plan)) == plan


def test_the_schedule_has_exact_counts_with_no_drift_and_workers_share_it():
    """rate x duration arrivals per step, evenly spaced from each step's start; two workers
    each take half the rate, staggered, and together make the whole schedule."""
    plan = arrival_plan(open_scenario({"workers": 2, "max_in_flight": 101}))
    assert plan is not None
    whole = [t for t, _ in intended_offsets(plan.steps)]
    assert len(whole) == 1600
    assert whole[:3] == pytest.approx([0.0, 0.01, 0.02])
    assert whole[999] == pytest.approx(9.99)  # 1,000th arrival: no accumulated error
    share = plan.share()
    assert share.max_in_flight == 51 and share.steps[0].rate == 50.0
    mine = [t for t, _ in intended_offsets(share.steps, 0.0)]
    theirs = [t for t, _ in intended_offsets(share.steps, 0.5)]
    assert len(mine) + len(theirs) == 1600
    assert sorted(mine + theirs)[:4] == pytest.approx([0.0, 0.01, 0.02, 0.03])


def test_open_model_runs_one_scheduler_user_per_process_started_before_load_start():
    """Locust holds one scheduler user per worker in every phase, spawned ahead of time."""
    plan = plan_from_scenario(open_scenario({"workers": 3}))
    assert {(p.users, p.prestart) for p in plan} == {(3, True)}
    closed = plan_from_scenario(scenario_from_dict({
        **BASE, "load": {"user": "HttpApiUser", "users": 4},
        "phases": [{"name": "a", "duration": 5}]}))
    assert [(p.users, p.prestart) for p in closed] == [(4, False)]


def _run_with_arrivals(tmp_path: Path, rows: list[tuple[int, str, int, int, int, int]]):
    path = write_synthetic_run(tmp_path / "run")
    lines = [",".join(ARRIVALS_COLUMNS)]
    lines += [f"{t},{phase},w1,{i},{s},{late},{d}" for t, phase, i, s, late, d in rows]
    (path / ARRIVALS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_run(path)


SYNTH_PHASES = [{"name": "warmup", "duration": "15s"},
                {"name": "chaos", "duration": "30s"},
                {"name": "recovery", "duration": "15s", "arrival_rate": 0}]


@pytest.mark.parametrize(("late", "dropped", "verdict"), [
    (0, 0, Verdict.PASS),
    (10, 0, Verdict.PASS),   # 10 / 4,500 = 0.2% <= 1%
    (40, 20, Verdict.FAIL),  # 60 / 4,500 = 1.3% > 1%
    (0, 100, Verdict.FAIL),
])
def test_delivery_check_judges_late_and_dropped_starts(tmp_path, late, dropped, verdict):
    """load.delivery adds late and dropped starts per phase; over max_late_ratio it fails."""
    run = _run_with_arrivals(tmp_path, [
        (20, "warmup", 1500, 1500, 0, 0),
        (30, "chaos", 3000, 3000 - dropped, late, dropped),
    ])
    scenario = open_scenario(phases=SYNTH_PHASES)
    check = next(c for c in analyze(run, scenario) if c.name == "load.delivery")
    assert check.verdict == verdict, check.detail
    assert check.category == "tool" and check.kind == "delivery"
    assert check.evidence["phases"]["chaos"]["dropped"] == dropped
    assert check.evidence["intended"] == 4500


def test_an_undelivered_load_is_a_tool_failure_never_a_pass(tmp_path):
    """A failed delivery check makes the whole run ERROR with exit 3, whatever else passed."""
    run = _run_with_arrivals(tmp_path, [(20, "warmup", 1000, 900, 300, 100)])
    checks = [c for c in analyze(run, open_scenario(phases=SYNTH_PHASES))
              if c.name == "load.delivery"]
    assert checks[0].failed and "could not deliver the load" in checks[0].detail
    assert overall_verdict(checks) == Verdict.ERROR
    summary = synthetic_summary(SyntheticRun(), checks)
    assert summary.status == "completed"
    assert exit_code_for(summary) == EXIT_ENVIRONMENT


def test_no_arrivals_recorded_is_an_error_not_a_pass(tmp_path):
    """An open-model run whose arrivals.csv is missing cannot pass the delivery check."""
    path = write_synthetic_run(tmp_path / "run")
    check = next(c for c in analyze(load_run(path), open_scenario(phases=SYNTH_PHASES))
                 if c.name == "load.delivery")
    assert check.verdict == Verdict.ERROR and "records no arrivals" in check.detail


class _LateLoad(FakeLoad):
    """A fake load that leaves arrivals.csv behind as the open-model users would."""

    def __init__(self, log: CallLog, duration: float, run_dir: Path,
                 rows: list[tuple[int, str, int, int, int, int]]) -> None:
        super().__init__(log, duration)
        self.run_dir, self.rows = run_dir, rows

    def start(self) -> None:
        super().start()
        lines = [",".join(ARRIVALS_COLUMNS)]
        lines += [f"{t},{phase},w1,{i},{s},{late},{d}" for t, phase, i, s, late, d in self.rows]
        (self.run_dir / ARRIVALS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_late_and_dropped_starts_are_events_per_phase(tmp_path: Path):
    """A phase whose requests started late or were dropped gets a load_late event with its
    counts (summed over rows and processes); an on-time phase gets none."""
    sc = scenario_from_dict({
        "name": "late", "target": {"name": "api", "command": ["true"]},
        "load": {"user": "OpenHttpUser", "arrival_rate": 100, "max_in_flight": 50},
        "sample_interval": "0.1s",
        "phases": [{"name": "warmup", "duration": "0.3s"}, {"name": "chaos", "duration": "0.3s"}],
    })
    rows = [(0, "warmup", 30, 30, 0, 0), (0, "chaos", 30, 25, 3, 5), (1, "chaos", 0, 2, 2, 0)]
    log = CallLog()
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True), backend=FakeBackend(sc, log),
              load=lambda s, host, run_dir, t0: _LateLoad(log, s.duration, run_dir, rows))
    run.execute()
    events = [json.loads(line) for line in
              (tmp_path / "run" / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    late = [e for e in events if e["kind"] == EventKind.LOAD_LATE]
    assert len(late) == 1
    assert {k: late[0][k] for k in ("phase", "intended", "started", "late", "dropped",
                                    "late_tolerance_s", "max_in_flight")} == {
        "phase": "chaos", "intended": 30, "started": 27, "late": 5, "dropped": 5,
        "late_tolerance_s": 0.1, "max_in_flight": 50}
    assert arrival_counts(tmp_path / "run")["warmup"] == {
        "intended": 30, "started": 30, "late": 0, "dropped": 0}
