"""The orchestrator with a fake backend and a fake load: timeline, faults, teardown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import EnvironmentFailure, RunOptions
from harness.backends import ProcessExit
from harness.run import Run
from harness.scenario import scenario_from_dict
from harness.testing import CallLog, FakeBackend, FakeLoad

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
