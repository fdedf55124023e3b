"""The orchestrator with a fake backend and a fake load: timeline, faults, teardown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import EnvironmentFailure, RunOptions
from harness.backends import ProcessExit
from harness.errors import ToolFrozen
from harness.run import Run
from harness.scenario import scenario_from_dict
from harness.testing import CallLog, FakeBackend, FakeLoad
from harness.verdicts import Summary, exit_code_for
from harness.watchdog import Watchdog

PHASES = ("warmup", "chaos", "recovery")


def scenario(container: bool = False) -> Any:
    fault = {"proxy": "front", "type": "latency", "attributes": {"latency": 10}}
    phases = []
    for name in PHASES:  # a fault in every phase, so that a failure can be put in any of them
        phase: dict[str, Any] = {"name": name, "duration": "0.4s", "faults": [fault]}
        if container and name == "chaos":
            phase["container_faults"] = [{"target": "api", "action": "pause"}]
        phases.append(phase)
    phases[1]["faults"] = [fault, {"proxy": "front", "type": "down"}]
    return scenario_from_dict({
        "name": "fake-run",
        "target": {"name": "api", "command": ["true"]},
        "proxies": [{"name": "front", "upstream": "api"}],
        "load": {"user": "HttpApiUser", "users": 1},
        "sample_interval": "0.1s",
        "phases": phases,
    })


def run_fake(tmp_path: Path, log: CallLog, *, container: bool = False) -> tuple[Run, FakeBackend]:
    sc = scenario(container)
    backend = FakeBackend(sc, log)
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True), backend=backend,
              load=FakeLoad.factory(log))
    return run, backend


def events(run: Run) -> list[dict[str, Any]]:
    lines = (run.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def kinds(run: Run, kind: str) -> list[dict[str, Any]]:
    return [e for e in events(run) if e["kind"] == kind]


def assert_torn_down(run: Run, backend: FakeBackend, log: CallLog) -> None:
    """Every fault undone, load stopped, backend down once, the report written."""
    assert backend.faults.active == {}
    assert backend.container_faults == []
    assert backend.down_calls == 1
    assert "load.stop" in log.calls
    assert log.calls.index("load.stop") < log.calls.index("down")
    assert kinds(run, "run_end")
    for name in ("summary.json", "report.md", "report.html", "junit.xml"):
        assert (run.run_dir / name).exists(), name


def test_phases_run_in_order_with_their_faults_applied_and_undone(tmp_path: Path) -> None:
    """Each phase starts, applies its faults, removes them when it ends, in plan order."""
    log = CallLog()
    run, backend = run_fake(tmp_path, log, container=True)
    outcome = run.execute()
    assert [e["phase"] for e in kinds(run, "phase_start")] == list(PHASES)
    assert [e["phase"] for e in kinds(run, "phase_end")] == list(PHASES)
    added = [c.split()[2] for c in log.starting("add_fault")]
    removed = [c.split()[2] for c in log.starting("remove_fault")]
    assert added == ["warmup-0-latency-downstream", "chaos-0-latency-downstream",
                     "chaos-1-down-downstream", "recovery-0-latency-downstream"]
    assert removed == added
    assert log.starting("apply_container_fault") == ["apply_container_fault pause api"]
    assert log.starting("remove_container_fault") == ["remove_container_fault pause api"]
    # each fault is removed before the next phase starts
    for e_add, e_rem in zip(kinds(run, "fault_added"), kinds(run, "fault_removed"), strict=True):
        assert e_add["phase"] == e_rem["phase"] and e_add["toxic"] == e_rem["toxic"]
    assert outcome.summary.status == "completed"
    assert run.manifest["versions"]["toxiproxy"] == "fake"
    assert_torn_down(run, backend, log)


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(("exc", "status"), [
    (EnvironmentFailure("toxiproxy went away"), "error"),
    (KeyboardInterrupt(), "interrupted"),
    (RuntimeError("a bug in the harness"), "error"),
])
def test_an_exception_in_any_phase_still_tears_down_and_reports(
        tmp_path: Path, phase: str, exc: BaseException, status: str) -> None:
    """A failure while a phase applies its faults: faults undone, processes down, report written."""
    log = CallLog(fail_on={f"add_fault front {phase}-1" if phase == "chaos"
                           else f"add_fault front {phase}-0": exc})
    run, backend = run_fake(tmp_path, log, container=True)
    if isinstance(exc, KeyboardInterrupt):
        outcome = run.execute()
        assert outcome.summary.status == status
    else:
        with pytest.raises(EnvironmentFailure):
            run.execute()
        summary = json.loads((run.run_dir / "summary.json").read_text(encoding="utf-8"))
        assert summary["status"] == status
        assert kinds(run, "error")
    started = [e["phase"] for e in kinds(run, "phase_start")]
    assert started == list(PHASES[: PHASES.index(phase) + 1])  # nothing after the failure
    assert_torn_down(run, backend, log)


@pytest.mark.parametrize(("role", "status"), [("target", "target_crashed"), ("control", "error")])
def test_a_process_exit_mid_phase_ends_the_run(tmp_path: Path, role: str, status: str) -> None:
    """A target that exits ends the run as crashed; a tool that exits as an environment error."""
    log = CallLog(exits_on={"add_fault front chaos-0": ProcessExit("api" if role == "target"
                                                                   else "toxiproxy", role, 1)})
    run, backend = run_fake(tmp_path, log)
    if role == "target":
        outcome = run.execute()
        assert outcome.summary.status == status
    else:
        with pytest.raises(EnvironmentFailure, match="toxiproxy exited"):
            run.execute()
    assert [e["phase"] for e in kinds(run, "phase_start")] == ["warmup", "chaos"]
    assert kinds(run, "process_exit")[0]["role"] == role
    assert_torn_down(run, backend, log)


def test_a_fault_that_cannot_be_removed_is_logged_and_cleared_at_teardown(tmp_path: Path) -> None:
    """A failed removal is an error event; teardown's clear() still removes the fault."""
    log = CallLog(fail_on={"remove_fault front chaos-1": EnvironmentFailure("api timeout")})
    run, backend = run_fake(tmp_path, log)
    run.execute()
    errors = [e["message"] for e in kinds(run, "error")]
    assert any("chaos-1-down-downstream" in m for m in errors)
    assert "clear" in log.calls
    assert_torn_down(run, backend, log)


@pytest.mark.parametrize("tool", ["toxiproxy", "locust"])
def test_a_tool_that_stops_answering_ends_the_run_as_a_tool_failure(
        tmp_path: Path, tool: str) -> None:
    """A frozen toxiproxy API or Locust heartbeat: ToolFrozen (exit 3), report written,
    the tool and its last sign of life in a tool_failed event, everything torn down."""
    log = CallLog(freezes_on={"add_fault front chaos-0": tool})
    sc = scenario()
    backend = FakeBackend(sc, log)
    # 0.2 s of silence is frozen here; chaos and recovery give it 0.8 s to be noticed,
    # four times the probe interval plus the run loop's 0.2 s poll: safe on a busy machine
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True, tool_timeout=0.2),
              backend=backend, load=FakeLoad.factory(log))
    with pytest.raises(ToolFrozen, match=f"{tool} stopped answering") as caught:
        run.execute()
    assert caught.value.exit_code == 3
    failed = kinds(run, "tool_failed")
    assert [e["tool"] for e in failed] == [tool]
    chaos_start = kinds(run, "phase_start")[1]["t"]
    # its last sign of life: the last look before it froze (the run loop looks every 0.2 s)
    assert chaos_start - 0.3 <= failed[0]["since"] <= failed[0]["t"]
    summary = Summary.model_validate_json((run.run_dir / "summary.json").read_text("utf-8"))
    assert summary.status == "error" and exit_code_for(summary) == 3
    assert tool in summary.reason
    assert "completed" not in [e.get("status") for e in kinds(run, "run_end")]
    assert_torn_down(run, backend, log)


def test_the_watchdog_forgives_a_silence_shorter_than_its_limit() -> None:
    """A tool silent for two probes, then answering again: no ToolFrozen; a longer one is."""
    now = [0.0]
    silent = {"toxiproxy": "no answer"}
    answers = [{}, silent, silent, {}, silent, silent, silent]
    dog = Watchdog(lambda _t: answers.pop(0), lambda: now[0], every=1.0, frozen_after=2.5,
                   clock=lambda: now[0])
    for _ in range(6):  # silent at t=1-2 (2 s), answering at t=3, silent at t=4-5 (2 s)
        dog.check()
        now[0] += 1.0
    with pytest.raises(ToolFrozen, match="toxiproxy stopped answering") as caught:
        dog.check()
    assert caught.value.since == 3.0  # the last probe that found it answering


def test_the_watchdog_names_a_load_generator_without_heartbeat() -> None:
    """Locust's last heartbeat at t=1, limit 3 s: frozen at t=4.5, named, with since=1."""
    now = [0.0]
    dog = Watchdog(lambda _t: {}, lambda: 1.0, frozen_after=3.0, clock=lambda: now[0])
    now[0] = 3.9
    dog.check()
    now[0] = 4.5
    with pytest.raises(ToolFrozen, match=r"locust stopped answering.*no heartbeat") as caught:
        dog.check()
    assert caught.value.since == 1.0


def test_the_target_version_and_ci_job_reach_run_json_and_summary_json(tmp_path: Path) -> None:
    """RunOptions.provenance is recorded in the manifest and copied into the summary."""
    from harness.provenance import Provenance

    log = CallLog()
    sc = scenario()
    origin = Provenance("v2.3.1", "--target-version", "https://ci.example/jobs/9")
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True, provenance=origin),
              backend=FakeBackend(sc, log), load=FakeLoad.factory(log))
    outcome = run.execute()
    manifest = json.loads((run.run_dir / "run.json").read_text(encoding="utf-8"))
    assert manifest["target_version"] == "v2.3.1"
    assert manifest["ci_url"] == "https://ci.example/jobs/9"
    assert outcome.summary.target_version == "v2.3.1"
    assert outcome.summary.target_version_source == "--target-version"
    assert outcome.summary.ci_url == "https://ci.example/jobs/9"
