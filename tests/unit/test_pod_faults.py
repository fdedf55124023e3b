"""Pod faults (phases[].pod_faults): the model, its refusals, the run's timeline with a fake
backend, and the fault logic against a fake Kubernetes API (synthetic objects)."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from harness import EnvironmentFailure, RunOptions
from harness.backends import make_backend
from harness.cli import main
from harness.errors import InputError, ScenarioError
from harness.kube import PodFaults, caught_signals, choose_signal
from harness.run import Run
from harness.scenario import KubeRef, PodFault, scenario_from_dict
from harness.testing import CallLog, FakeBackend, FakeLoad

KUBE = {"namespace": "shop", "deployment": "web", "port": 8080}


def scenario_dict(pod_faults: list[dict[str, Any]], *, kube: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    return {
        "name": "pods",
        "target": {"name": "web", "kube": kube or KUBE},
        "load": {"user": "HttpApiUser", "users": 1, "host": "http://web.shop.svc:8080"},
        "sample_interval": "0.1s",
        "phases": [{"name": "warmup", "duration": "0.3s"},
                   {"name": "chaos", "duration": "0.4s", "pod_faults": pod_faults},
                   {"name": "recovery", "duration": "0.3s"}],
    }


@pytest.mark.parametrize(("fault", "message"), [
    ({"target": "web", "type": "delet"}, "unknown pod fault 'delet' (did you mean 'delete'?)"),
    ({"target": "web", "type": "scale_zero", "count": 2}, "count: only delete and kill"),
    ({"target": "web", "type": "kill", "grace_period": 5}, "grace_period: only delete"),
    ({"target": "web", "type": "delete", "signal": "TERM"}, "signal: only kill"),
    ({"target": "web", "type": "kill", "signal": "KILL"}, "unknown signal 'KILL'"),
    ({"target": "web", "type": "delete", "count": 0}, "greater than or equal to 1"),
])
def test_bad_pod_faults_are_refused_naming_the_field(fault: dict[str, Any], message: str):
    """Unknown kinds, fields of another kind, SIGKILL (dropped by PID 1): refused."""
    with pytest.raises(ValidationError, match=re.escape(message)):
        PodFault.model_validate(fault)


def test_pod_fault_labels_and_attributes():
    """What the event and the report say of each kind."""
    assert PodFault(target="web", type="delete", grace_period=0).label == \
        "delete(count=1,grace_period=0) on kube:web"
    assert PodFault(target="web", type="kill", signal="SIGINT").attributes == \
        {"count": 1, "signal": "INT"}
    assert PodFault(target="web", type="scale_zero").label == "scale_zero() on kube:web"


def test_a_pod_fault_needs_a_kube_target_and_scale_a_deployment():
    """No target, a target without kube:, scale_zero on a selector: each named."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(scenario_dict([{"target": "api", "type": "delete"}]))
    assert "phases[1].pod_faults[0].target: no target named 'api'" in str(info.value)
    plain = scenario_dict([{"target": "web", "type": "delete"}])
    plain["target"] = {"name": "web", "command": ["true"]}
    with pytest.raises(ScenarioError, match=r"target .web. has no kube: reference"):
        scenario_from_dict(plain)
    by_labels = {"namespace": "shop", "selector": {"app": "web"}, "port": 8080}
    with pytest.raises(ScenarioError, match="scale_zero scales a Deployment"):
        scenario_from_dict(scenario_dict([{"target": "web", "type": "scale_zero"}],
                                         kube=by_labels))
    ok = scenario_from_dict(scenario_dict([{"target": "web", "type": "kill"}], kube=by_labels))
    assert ok.phases[1].any_faults


@pytest.mark.parametrize("backend", ["local", "compose"])
def test_other_backends_refuse_pod_faults(backend: str):
    """make_backend refuses pod faults outside --backend attach (exit 2), before anything."""
    sc = scenario_from_dict(scenario_dict([{"target": "web", "type": "delete"}]))
    with pytest.raises(InputError, match=r"phases\[1\].pod_faults: .*need --backend attach"):
        make_backend(backend, sc)


def test_validate_refuses_pod_faults_unless_attach(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]):
    """`harness validate` exits 2 for pod faults with the local backend, 0 with attach."""
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        name: pods
        target: {name: web, kube: {namespace: shop, deployment: web, port: 8080}}
        load: {user: HttpApiUser, host: "http://web.shop.svc:8080"}
        phases:
          - {name: warmup, duration: 5s}
          - {name: chaos, duration: 5s, pod_faults: [{target: web, type: scale_zero}]}
    """))
    assert main(["validate", str(path), "--backend", "local"]) == 2
    assert "phases[1].pod_faults: pod faults act on a Kubernetes workload and need " \
           "--backend attach" in capsys.readouterr().err
    assert main(["validate", str(path), "--backend", "attach"]) == 0, capsys.readouterr().err


# ---------------------------------------------------------------------------- the run


def run_fake(tmp_path: Path, faults: list[dict[str, Any]], log: CallLog
             ) -> tuple[Run, FakeBackend]:
    sc = scenario_from_dict(scenario_dict(faults))
    backend = FakeBackend(sc, log)
    run = Run(sc, RunOptions(out=tmp_path / "run", quiet=True), backend=backend,
              load=FakeLoad.factory(log))
    return run, backend


def events(run: Run, kind: str) -> list[dict[str, Any]]:
    lines = (run.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_pod_faults_are_applied_logged_and_undone_with_their_phase(tmp_path: Path):
    """fault_added (kube:<target>, what was done), pod_fault_undone with the replicas put
    back, fault_removed: in the chaos phase, and drawn in the report's phase table."""
    log = CallLog()
    run, backend = run_fake(tmp_path, [{"target": "web", "type": "delete", "count": 2},
                                       {"target": "web", "type": "scale_zero"}], log)
    run.execute()
    assert log.starting("apply_pod_fault") == [
        "apply_pod_fault delete web chaos-0-delete-web",
        "apply_pod_fault scale_zero web chaos-1-scale_zero-web"]
    assert log.starting("remove_pod_fault") == [
        "remove_pod_fault delete web chaos-0-delete-web",
        "remove_pod_fault scale_zero web chaos-1-scale_zero-web"]
    added = events(run, "fault_added")
    assert [(e["phase"], e["proxy"], e["type"]) for e in added] == [
        ("chaos", "kube:web", "delete"), ("chaos", "kube:web", "scale_zero")]
    assert added[0]["pods"] == ["web-0", "web-1"] and added[0]["attributes"] == {"count": 2}
    assert added[1]["replicas_before"] == 3
    assert [e["replicas"] for e in events(run, "pod_fault_undone")] == [3]
    assert [e["toxic"] for e in events(run, "fault_removed")] == [e["toxic"] for e in added]
    assert backend.replicas == 3 and backend.pod_faults == {}
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "delete on kube:web {&quot;count&quot;: 2}" in html


def test_a_signal_mid_fault_still_scales_back(tmp_path: Path):
    """SIGINT while the Deployment is at zero: the run ends interrupted, replicas restored."""
    log = CallLog(fail_on={"apply_pod_fault scale_zero web chaos-1": KeyboardInterrupt()})
    run, backend = run_fake(tmp_path, [{"target": "web", "type": "delete"},
                                       {"target": "web", "type": "scale_zero"}], log)
    backend.replicas = 3
    outcome = run.execute()
    assert outcome.summary.status == "interrupted"
    assert backend.replicas == 3 and backend.pod_faults == {}
    assert backend.down_calls == 1


def test_a_kill_with_no_effect_is_a_tool_failure(tmp_path: Path):
    """A pod fault that could not happen ends the run with exit 3 and an error event."""
    log = CallLog()
    run, backend = run_fake(tmp_path, [{"target": "web", "type": "kill"}], log)
    backend.pod_fault_fails = True
    with pytest.raises(EnvironmentFailure, match="had no effect"):
        run.execute()
    assert any("had no effect" in e["message"] for e in events(run, "error"))
    assert events(run, "fault_added") == []
    summary = json.loads((run.run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "error"


# ---------------------------------------------------------------------------- the kube side


def test_caught_signal_masks_and_the_choice_of_signal():
    """SigCgt bit n-1 is signal n; auto takes TERM, INT, QUIT in that order, else None."""
    python_pid1 = "0000000000000002"  # Python's default: only SIGINT (KeyboardInterrupt)
    assert caught_signals(python_pid1) == {2}
    assert choose_signal("auto", caught_signals(python_pid1)) == "INT"
    assert choose_signal("auto", caught_signals("0000000000004002")) == "TERM"  # 15 and 2
    assert choose_signal("TERM", {2}) is None
    assert choose_signal("auto", caught_signals("0000000000000000")) is None


def _pod(name: str, age_s: int, *, restarts: int = 0, phase: str = "Running") -> Any:
    created = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=age_s)
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, creation_timestamp=created, deletion_timestamp=None),
        spec=SimpleNamespace(containers=[SimpleNamespace(name="main")],
                             share_process_namespace=None),
        status=SimpleNamespace(phase=phase, container_statuses=[
            SimpleNamespace(name="main", restart_count=restarts)]))


class FakeCluster:
    """The few API calls PodFaults makes, in memory."""

    def __init__(self) -> None:
        self.replicas = 2
        self.pods = {p.metadata.name: p for p in (_pod("web-b", 10), _pod("web-a", 50),
                                                   _pod("web-c", 5, phase="Pending"))}
        self.calls: list[str] = []
        self.where = "fake"
        self.apps = SimpleNamespace(
            read_namespaced_deployment=lambda name, ns, **kw: SimpleNamespace(
                spec=SimpleNamespace(selector=SimpleNamespace(match_labels={"app": name}))),
            read_namespaced_deployment_scale=lambda name, ns, **kw: SimpleNamespace(
                spec=SimpleNamespace(replicas=self.replicas)),
            patch_namespaced_deployment_scale=self._patch)
        self.core = SimpleNamespace(
            list_namespaced_pod=lambda ns, label_selector, **kw: SimpleNamespace(
                items=list(self.pods.values())),
            delete_namespaced_pod=self._delete,
            read_namespaced_pod=lambda name, ns, **kw: self.pods[name])

    def _patch(self, name: str, ns: str, body: dict[str, Any], **kw: Any) -> None:
        assert "_request_timeout" in kw  # every call carries the timeout
        self.calls.append(f"scale {name} {body['spec']['replicas']}")
        self.replicas = body["spec"]["replicas"]

    def _delete(self, name: str, ns: str, grace_period_seconds: int | None, **kw: Any) -> None:
        self.calls.append(f"delete {name} grace={grace_period_seconds}")

    def close(self) -> None:
        self.calls.append("close")


REF = KubeRef(namespace="shop", deployment="web", port=8080)


def test_scale_zero_is_undone_at_the_phase_end_and_by_restore():
    """remove() and restore() both put the original count back; restore only what is left."""
    cluster = FakeCluster()
    faults = PodFaults(api_factory=lambda: cluster)  # type: ignore[arg-type,return-value]
    fault = PodFault(target="web", type="scale_zero")
    assert faults.apply(fault, REF, "a") == {"replicas_before": 2}
    assert cluster.replicas == 0
    assert faults.remove("a") == {"replicas": 2}
    assert faults.apply(fault, REF, "b") == {"replicas_before": 2}
    assert faults.restore() == [] and cluster.replicas == 2
    assert faults.restore() == []  # nothing left in force: no call
    assert cluster.calls == ["scale web 0", "scale web 2", "scale web 0", "scale web 2"]


def test_delete_takes_the_oldest_running_pods_with_the_grace_period():
    """Pending pods are not victims; the oldest running ones go first."""
    cluster = FakeCluster()
    faults = PodFaults(api_factory=lambda: cluster)  # type: ignore[arg-type,return-value]
    done = faults.apply(PodFault(target="web", type="delete", count=5, grace_period=0),
                        REF, "d")
    assert done == {"pods": ["web-a", "web-b"]}
    assert cluster.calls == ["delete web-a grace=0", "delete web-b grace=0"]


def test_kill_refuses_a_signal_pid_1_ignores_and_fails_when_nothing_restarts(
        monkeypatch: pytest.MonkeyPatch):
    """No handler for the signal: refused before sending; sent but no restart: a tool
    failure naming the restartCount; a restart: its numbers recorded."""
    cluster = FakeCluster()
    faults = PodFaults(api_factory=lambda: cluster)  # type: ignore[arg-type,return-value]
    sent: list[list[str]] = []
    mask = {"value": "0000000000000000"}

    def fake_exec(ref: KubeRef, pod: str, container: str, command: list[str]) -> str:
        sent.append(command)
        if command[-1].startswith("kill"):
            if mask["restart"]:
                cluster.pods[pod].status.container_statuses[0].restart_count += 1
            return ""
        return mask["value"] + "\n"

    monkeypatch.setattr(faults, "_exec", fake_exec)
    mask["restart"] = True  # type: ignore[assignment]
    kill = PodFault(target="web", type="kill", verify_within=1.0)
    with pytest.raises(EnvironmentFailure, match="handles no TERM, INT or QUIT"):
        faults.apply(kill, REF, "k")
    assert not any(c[-1].startswith("kill") for c in sent)
    mask["value"] = "0000000000004000"  # SIGTERM handled
    mask["restart"] = False  # type: ignore[assignment]
    with pytest.raises(EnvironmentFailure, match="had no effect: its restartCount stayed 0"):
        faults.apply(kill, REF, "k")
    mask["restart"] = True  # type: ignore[assignment]
    done = faults.apply(kill, REF, "k")
    assert done["pods"] == ["web-a"]
    assert done["kills"][0]["signal"] == "TERM"
    assert (done["kills"][0]["restarts_before"], done["kills"][0]["restarts_after"]) == (0, 1)
    assert sent[-1] == ["sh", "-c", "kill -s TERM 1"]
