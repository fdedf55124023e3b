"""The attach section: validated in full, every problem named by its field path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.backends.attach import AttachBackend, plan_targets, remote_equivalent
from harness.errors import ScenarioError
from harness.scenario import AttachSettings, attach_problems, scenario_from_dict

BASE: dict[str, Any] = {
    "name": "attach-t",
    "target": {"name": "gateway", "sample": "healthy"},
    "proxies": [{"name": "front", "upstream": "gateway"}],
    "load": {"user": "HttpApiUser"},
    "phases": [{"name": "warmup", "duration": "5s"}],
    "attach": {
        "toxiproxy": "http://toxiproxy:8474",
        "proxies": {"front": {"listen": "toxiproxy:8666", "upstream": "gateway:8080"}},
        "targets": {"gateway": {"metrics_url": "http://gateway:8080/metrics",
                                "debug_url": "http://gateway:8080/debug/tasks"}},
    },
}


def build(mutate=lambda d: None) -> Any:
    data = copy.deepcopy(BASE)
    mutate(data)
    return scenario_from_dict(data)


def errors_for(mutate) -> str:
    with pytest.raises(ScenarioError) as info:
        build(mutate)
    return "\n".join(info.value.errors)


def test_valid_attach_section_parses():
    """A complete attach section loads with its defaults (bind address, API port)."""
    attach = build().attach
    assert attach is not None
    assert attach.toxiproxy_host_port == ("toxiproxy", 8474)
    assert attach.proxies["front"].bind_address == "0.0.0.0:8666"
    assert attach_problems(build()) == []


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["attach"].update(toxiproxy="toxiproxy:8474"), "attach.toxiproxy"),
    (lambda d: d["attach"]["proxies"]["front"].update(listen="toxiproxy"), "listen"),
    (lambda d: d["attach"]["proxies"]["front"].update(upstream="gateway"), "upstream"),
    (lambda d: d["attach"]["targets"]["gateway"].update(metrics_url="gateway:8080"),
     "metrics_url"),
    (lambda d: d["attach"]["targets"]["gateway"].update(metrics={"fds": "proc:fds"}),
     "cannot be read from a remote target"),
    (lambda d: d["attach"].update(extra=1), "extra"),
])
def test_bad_attach_fields_are_named(mutate, expected: str):
    """Malformed URLs, addresses, sources and unknown keys fail naming the field."""
    assert expected in errors_for(mutate)


def test_cross_checks_name_missing_and_unknown_entries():
    """Scenario proxies without an entry and entries for unknown proxies/targets are named."""
    def mutate(d: dict[str, Any]) -> None:
        d["attach"]["proxies"] = {"back": {"listen": "toxiproxy:8667"}}
        d["attach"]["targets"]["nope"] = {}

    problems = attach_problems(build(mutate))
    assert any(p.startswith("attach.proxies: no entry for proxies[0] 'front'") for p in problems)
    assert any(p.startswith("attach.proxies.back: not a proxy") for p in problems)
    assert any(p.startswith("attach.targets.nope: not a target") for p in problems)


def test_target_upstream_needs_an_address():
    """A proxy whose upstream is a target name needs attach.proxies.<p>.upstream."""
    def mutate(d: dict[str, Any]) -> None:
        del d["attach"]["proxies"]["front"]["upstream"]

    (problem,) = attach_problems(build(mutate))
    assert problem.startswith("attach.proxies.front.upstream:")


def test_backend_without_attach_section_is_input_error():
    """--backend attach on a scenario without attach: fails before anything starts."""
    with pytest.raises(ScenarioError, match="needs an attach: section"):
        AttachBackend(build(lambda d: d.pop("attach")))


def test_metrics_mapped_to_remote_equivalents():
    """A sample's proc:fds/rss become Prometheus process metrics; proc:threads is dropped."""
    scenario = build()
    assert isinstance(scenario.attach, AttachSettings)
    (plan,) = plan_targets(scenario, scenario.attach)
    assert plan.metrics == {"tasks": "prometheus:sample_tasks",
                            "fds": "prometheus:process_open_fds",
                            "rss": "prometheus:process_resident_memory_bytes"}
    assert plan.dropped == {"threads": "proc:threads"}
    assert remote_equivalent("proc:threads", docker=True) == "docker:pids"


def test_prometheus_metric_without_url_is_named():
    """A Prometheus metric with no metrics_url names attach.targets.<t>.metrics_url."""
    def mutate(d: dict[str, Any]) -> None:
        d["attach"]["targets"]["gateway"] = {}

    with pytest.raises(ScenarioError, match=r"attach\.targets\.gateway\.metrics_url: needed"):
        AttachBackend(build(mutate))


def test_kube_metrics_and_pod_faults_share_one_api_client(monkeypatch: pytest.MonkeyPatch):
    """One Kubernetes API connection per run, whoever asks first (kube: metrics or pod
    faults); pod faults are undone through it before ``down()`` closes it, once."""
    import harness.kube

    opened: list[str] = []

    class Api:
        def __init__(self) -> None:
            self.closed = 0

        def close(self) -> None:
            opened.append(f"close while restored={restored}")
            self.closed += 1

    restored: list[str] = []
    monkeypatch.setattr(harness.kube, "connect", lambda: opened.append("connect") or Api())
    backend = AttachBackend(build())
    faults = backend._faults()
    api = backend._kube_api()
    assert faults.api is api and backend._kube_api() is api
    monkeypatch.setattr(faults, "restore", lambda: restored.append("restore") or [])
    assert backend.down() == []
    assert opened == ["connect", "close while restored=['restore']"]
    assert api.closed == 1
