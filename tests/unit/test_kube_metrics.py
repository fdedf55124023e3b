"""kube: metrics on synthetic data: cAdvisor pages, pod states, restarts, gaps and their checks."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from harness.analysis import analyze, unjudgeable
from harness.backends.attach import plan_targets
from harness.errors import ScenarioError, TargetUnhealthy
from harness.kube import (
    CADVISOR_METRICS,
    ContainerState,
    Death,
    KubeSource,
    KubeWatch,
    PodState,
    PodTracker,
    Reading,
    container_id_of,
    parse_cadvisor,
)
from harness.runfolder import EventLog
from harness.scenario import KUBE_DEFAULT_METRICS, KubeRef, attach_problems, scenario_from_dict
from harness.verdicts import Verdict
from tests.unit.analysis_helpers import by_name, run_data

A = "a" * 64
B = "b" * 64
PAUSE = "c" * 64
POD = "/kubepods/besteffort/pod1111-2222"
STAMP = 1_795_665_504_521  # ms, as the kubelet writes it

def _line(name: str, value: str, container: str = "app", cid: str | None = A, pod: str = "web-1",
          extra: str = "") -> str:
    cgroup = f"{POD}/{cid}" if cid else POD
    return (f'container_{name}{{container="{container}",{extra}id="{cgroup}",name="{cid or ""}",'
            f'namespace="ns",pod="{pod}"}} {value} {STAMP}')


# a page as a kubelet with the containerd factory writes it (labels), plus one container
# of a kubelet that could not reach the runtime (no labels: matched by the cgroup's id)
PAGE = "\n".join([
    "# HELP container_file_descriptors Number of open file descriptors for the container.",
    "# TYPE container_file_descriptors gauge",
    _line("file_descriptors", "0", container="", cid=None),
    _line("file_descriptors", "3", container="", cid=PAUSE),
    _line("file_descriptors", "17"),
    'container_file_descriptors{container="",id="/kubepods.slice/kubepods-pod33.slice/'
    f'cri-containerd-{B}.scope",image="",name="",namespace="",pod=""}} 5 {STAMP}',
    _line("threads", "4"),
    _line("threads_max", "0"),
    _line("cpu_usage_seconds_total", "1.5", extra='cpu="total",'),
    _line("cpu_usage_seconds_total", "0.7", extra='cpu="cpu0",'),
    _line("memory_working_set_bytes", "2.9806592e+07"),
    _line("memory_rss", "1e+07"),
    f'container_sockets{{container="app",id="{POD}/{A}" broken line',
    _line("sockets", "NaN"),
])


def test_cadvisor_page_keeps_only_the_wanted_series_by_container_id():
    """Wanted series only (cpu total, no NaN or broken line), each with its container id and time."""
    got = parse_cadvisor(PAGE)
    keyed = {(s.alias, s.container_id): s for s in got}
    assert keyed[("fds", A)].value == 17 and keyed[("fds", A)].container == "app"
    assert keyed[("fds", A)].timestamp == pytest.approx(STAMP / 1000)
    assert keyed[("fds", None)].pod == "web-1"  # the pod's own cgroup: no container id
    assert keyed[("fds", B)].value == 5 and keyed[("fds", B)].pod == ""  # unlabelled
    assert keyed[("cpu", A)].value == 1.5  # cpu="total" only
    assert keyed[("memory", A)].value == 29806592
    assert ("sockets", A) not in keyed  # NaN and the broken line are skipped
    assert {s.alias for s in got} == {"fds", "threads", "cpu", "memory"}


@pytest.mark.parametrize("cgroup, expected", [
    (f"{POD}/{A}", A),
    (f"/kubepods.slice/kubepods-besteffort.slice/x.slice/cri-containerd-{A}.scope", A),
    (f"/system.slice/docker-{B}.scope", B),
    (POD, None),
    ("/", None),
])
def test_container_id_of_cgroup_paths(cgroup, expected):
    """The container id ends a cgroupfs or systemd cgroup path; pods' and nodes' have none."""
    assert container_id_of(cgroup) == expected


def _pod(name, cid, *, restarts=0, deaths=(), created=1000.0, ready=True, running=True,
         uid=None):
    return PodState(name, uid or f"uid-{name}", "node-1", "Running", ready, created,
                    (ContainerState("app", cid, running, ready, restarts, deaths=tuple(deaths)),))


def _series(values: dict[str, float], stamp: float = 2000.0, alias: str = "fds"):
    text = "\n".join(
        f'container_{"file_descriptors" if alias == "fds" else "cpu_usage_seconds_total"}'
        f'{{container="app",cpu="total",id="/p/{cid}",namespace="ns",pod="x"}} {v} '
        f"{int(stamp * 1000)}" for cid, v in values.items())
    return parse_cadvisor(text)


def test_tracker_sums_containers_and_gaps_on_a_missing_series():
    """Two pods' fds sum; a pod whose container has no series makes the tick a gap, named."""
    tracker = PodTracker("web", "ns", started_at=1500.0)
    reading, _ = tracker.observe([_pod("web-1", A), _pod("web-2", B)],
                                 _series({A: 10, B: 7}), now=2001.0)
    assert reading.values["fds"] == 17
    assert reading.per_container["fds"] == {"web-1/app": 10, "web-2/app": 7}
    reading, _ = tracker.observe([_pod("web-1", A), _pod("web-2", B)], _series({A: 11}),
                                 now=2002.0)
    assert reading.values["fds"] is None and "web-2/app" in reading.gaps["fds"]
    reading, _ = tracker.observe([], [], now=2003.0)
    assert reading.values["fds"] is None and reading.gaps["fds"] == "no running pod matches"
    reading, _ = tracker.observe([_pod("web-1", A)], None, now=2004.0, error="timeout")
    assert reading.gaps["fds"] == "timeout" and reading.values["ready"] == 1


def test_tracker_gaps_on_a_stale_measurement():
    """A container cAdvisor last measured over a minute ago is a gap, not a level."""
    tracker = PodTracker("web", "ns", started_at=1500.0)
    reading, _ = tracker.observe([_pod("web-1", A)], _series({A: 10}, stamp=1900.0),
                                 now=2000.0)
    assert reading.values["fds"] is None and "last measured 100 s ago" in reading.gaps["fds"]


def test_cpu_rate_is_per_container_id_so_a_restart_never_goes_negative():
    """CPU cores come from two measurements of one container id; a new id starts over."""
    tracker = PodTracker("web", "ns", started_at=1500.0)
    pods = [_pod("web-1", A)]
    r1, _ = tracker.observe(pods, _series({A: 10.0}, 2000.0, "cpu"), now=2000.5)
    assert r1.values["cpu"] is None and "cpu" not in r1.gaps  # one measurement: no gap
    r2, _ = tracker.observe(pods, _series({A: 15.0}, 2010.0, "cpu"), now=2010.5)
    assert r2.values["cpu"] == pytest.approx(0.5)
    # restarted: the new container's counter starts near 0
    r3, _ = tracker.observe([_pod("web-1", B, restarts=1)], _series({B: 0.2}, 2020.0, "cpu"),
                            now=2020.5)
    assert r3.values["cpu"] is None


def test_restarts_before_the_run_are_a_baseline_and_deaths_during_it_are_named():
    """A pre-existing restart is not counted; an OOM kill during the run is, with its reason."""
    old = Death("d0", "Error", 1, "t0")
    tracker = PodTracker("web", "ns", started_at=1500.0)
    _, events = tracker.observe([_pod("web-1", A, restarts=3, deaths=[old])], [], now=1501.0)
    assert events["restart"] == [] and tracker.restarts == 0
    assert events["pods"][0]["total"] == 1 and events["pods"][0]["ready"] == 1
    oom = Death(A, "OOMKilled", 137, "t1")
    reading, events = tracker.observe(
        [_pod("web-1", B, restarts=4, deaths=[oom])], [], now=1600.0)
    (death,) = events["restart"]
    assert (death["pod"], death["container"], death["reason"], death["exit_code"],
            death["oom"]) == ("web-1", "app", "OOMKilled", 137, True)
    assert reading.values["restarts"] == 1 and reading.values["oom_kills"] == 1
    # the same death seen again is not counted twice; two restarts between polls are
    _, events = tracker.observe([_pod("web-1", B, restarts=6, deaths=[oom])], [], now=1700.0)
    assert [e["count"] for e in events["restart"]] == [2]
    assert tracker.restarts == 3


def test_a_pod_born_during_the_run_counts_all_its_restarts_and_gone_pods_are_named():
    """A pod created after the watch began has a baseline of 0; a vanished pod is listed."""
    tracker = PodTracker("web", "ns", started_at=1500.0)
    tracker.observe([_pod("web-1", A)], [], now=1501.0)
    _, events = tracker.observe(
        [_pod("web-2", B, restarts=1, created=1600.0, deaths=[Death("x", "Error", 2, "t")])],
        [], now=1700.0)
    assert tracker.restarts == 1
    (pods,) = events["pods"]
    assert pods["added"] == ["web-2"] and pods["gone"] == ["web-1"]


class _Watch:
    def __init__(self, reading):
        self.reading = reading

    def latest(self):
        return self.reading


def test_kube_source_writes_a_row_only_for_a_new_measurement():
    """A source returns a value once per cAdvisor measurement (None until the next one)."""
    reading = Reading(at=1.0, values={"fds": 5.0}, stamps={"fds": (10.0,)},
                      per_container={"fds": {"web-1/app": 5.0}})
    watch = _Watch(reading)
    source = KubeSource(watch, "fds")  # type: ignore[arg-type]
    assert source.read() == 5.0 and source.per_process() == [(0, "web-1/app", 5.0)]
    watch.reading = Reading(at=2.0, values={"fds": 5.0}, stamps={"fds": (10.0,)})
    assert source.read() is None
    watch.reading = Reading(at=3.0, values={"fds": 6.0}, stamps={"fds": (20.0,)})
    assert source.read() == 6.0
    with pytest.raises(ValueError, match="kube:nope"):
        KubeSource(watch, "nope")  # type: ignore[arg-type]


KUBE = {
    "name": "k",
    "target": {"name": "web", "kube": {"namespace": "apps", "deployment": "web", "port": 8080}},
    "proxies": [{"name": "front", "upstream": "web"}],
    "load": {"user": "HttpApiUser", "users": 2},
    "phases": [{"name": "warmup", "duration": 20}, {"name": "chaos", "duration": 40}],
    "thresholds": {},
    "attach": {"toxiproxy": "http://127.0.0.1:8474",
               "proxies": {"front": {"listen": "127.0.0.1:8666"}}},
}


def test_a_kube_target_is_sampled_through_kube_sources_and_reached_at_its_service():
    """Default kube: metrics; the proxy dials the Service; kube: elsewhere is refused."""
    sc = scenario_from_dict(KUBE)
    assert sc.all_targets[0].sampled_metrics() == KUBE_DEFAULT_METRICS
    assert sc.all_targets[0].what == "kube apps/web"
    assert attach_problems(sc) == []
    (plan,) = plan_targets(sc, sc.attach)
    assert plan.metrics["fds"] == "kube:fds" and plan.kube is not None
    assert plan.kube.service_address == "web.apps.svc:8080"
    with pytest.raises(ScenarioError, match="has no kube:"):
        scenario_from_dict({**KUBE, "target": {"name": "web", "sample": "healthy",
                                               "metrics": {"fds": "kube:fds"}}})


def _kube_run(tmp_path, events):
    sc = scenario_from_dict(KUBE)
    return sc, run_data(tmp_path, sc, {}, events=[*events, {"t": 60.0, "kind": "run_end"}])


def _pods(t, ready=1, gone=()):
    return {"t": t, "kind": "kube_pods", "target": "web", "total": 1, "ready": ready,
            "pods": [{"pod": "web-1", "ready": bool(ready)}], "added": [], "gone": list(gone)}


def test_a_container_that_died_fails_the_restart_check_with_pod_container_and_reason(tmp_path):
    """target.restarts fails naming the OOM-killed container and the count."""
    sc, run = _kube_run(tmp_path, [_pods(0.0), *[
        {"t": t, "kind": "kube_restart", "target": "web", "pod": "web-1", "container": "app",
         "reason": "OOMKilled", "exit_code": 137, "oom": True} for t in (30.0, 45.0)]])
    checks = by_name(analyze(run, sc))
    check = checks["target.restarts[web]"]
    assert "target.alive[web]" not in checks  # no process of ours to be alive
    assert check.verdict == Verdict.FAIL and check.observed == 2
    assert "pod web-1 container app: OOMKilled x2" in check.detail
    assert "2 OOM-killed" in check.detail


def _death(t, reason, oom=False):
    return {"t": t, "kind": "kube_restart", "target": "web", "pod": "web-1", "container": "app",
            "reason": reason, "exit_code": 137, "oom": oom}


KILL_FAULT = [{"t": 20.0, "kind": "fault_added", "target": "web", "type": "kill"},
              {"t": 25.0, "kind": "fault_removed", "target": "web", "type": "kill"}]


@pytest.mark.parametrize("events, verdict", [
    ([_pods(0.0), *KILL_FAULT, _death(22.0, "Error")], Verdict.PASS),  # the fault's doing
    ([_pods(0.0), *KILL_FAULT, _death(58.0, "Error")], Verdict.FAIL),  # after the grace
    ([_pods(0.0), *KILL_FAULT, _death(22.0, "OOMKilled", oom=True)], Verdict.FAIL),  # never
    # a kill waits for the restart before its fault_added is written: the death comes first,
    # inside the fault's phase (measured on the cluster: restart 2.2-2.8 s into the phase)
    ([_pods(0.0), {"t": 19.0, "kind": "phase_start", "phase": "chaos"},
      _death(19.5, "Completed"),
      {**KILL_FAULT[0], "t": 21.8, "phase": "chaos"}, KILL_FAULT[1]], Verdict.PASS),
    ([_pods(0.0), _death(15.0, "Completed"), {"t": 19.0, "kind": "phase_start", "phase": "chaos"},
      {**KILL_FAULT[0], "t": 21.8, "phase": "chaos"}, KILL_FAULT[1]], Verdict.FAIL),  # before
])
def test_a_death_during_the_runs_own_pod_fault_is_not_failed_unless_oom(tmp_path, events,
                                                                        verdict):
    """A container killed by the run's fault on the target passes; an OOM kill never does."""
    sc, run = _kube_run(tmp_path, events)
    assert by_name(analyze(run, sc))["target.restarts[web]"].verdict == verdict


@pytest.mark.parametrize("events, verdict", [
    ([_pods(0.0)], Verdict.PASS),
    ([], Verdict.ERROR),  # never read
    ([_pods(0.0), _pods(30.0, gone=["web-0"])], Verdict.INCONCLUSIVE),  # replaced, why unknown
    ([_pods(0.0), {"t": 25.0, "kind": "fault_added", "target": "web"},
      _pods(30.0, gone=["web-0"])], Verdict.PASS),  # replaced by the run's own fault
])
def test_restart_check_without_deaths(tmp_path, events, verdict):
    """No death: PASS when read; ERROR when never read; a pod gone unexplained is inconclusive."""
    sc, run = _kube_run(tmp_path, events)
    assert by_name(analyze(run, sc))["target.restarts[web]"].verdict == verdict


@pytest.mark.parametrize("events, verdict", [
    ([_pods(0.0)], Verdict.PASS),
    ([_pods(0.0), {"t": 10.0, "kind": "kube_gap", "target": "web", "state": "start",
                   "reason": "timeout"},
      {"t": 12.0, "kind": "kube_gap", "target": "web", "state": "end"}], Verdict.PASS),
    ([_pods(0.0), {"t": 30.0, "kind": "kube_gap", "target": "web", "state": "start",
                   "reason": "no running pod matches"}], Verdict.INCONCLUSIVE),  # never back
    ([_pods(0.0), _pods(20.0, ready=0), _pods(28.0)], Verdict.INCONCLUSIVE),  # 8 s unready
    # the same 8 s unready, caused by the run's own pod delete: expected, listed, not held
    ([_pods(0.0), {"t": 20.0, "kind": "fault_added", "target": "web", "type": "delete"},
      _pods(20.5, ready=0), {"t": 21.0, "kind": "fault_removed", "target": "web",
                             "type": "delete"}, _pods(28.0)], Verdict.PASS),
    # ... but a target that never comes back outlasts the fault's grace: inconclusive
    ([_pods(0.0), {"t": 10.0, "kind": "fault_added", "target": "web", "type": "delete"},
      _pods(10.5, ready=0), {"t": 11.0, "kind": "fault_removed", "target": "web",
                             "type": "delete"}], Verdict.INCONCLUSIVE),
])
def test_observed_check_makes_long_gaps_inconclusive(tmp_path, events, verdict):
    """A 2 s gap passes; a gap to the end or 8 s with no ready pod is inconclusive."""
    sc, run = _kube_run(tmp_path, events)
    check = by_name(analyze(run, sc))["target.observed[web]"]
    assert check.verdict == verdict, check.detail


@pytest.mark.parametrize("chaos, judgeable", [(40, False), (100, True)])
def test_a_kube_cadvisor_series_is_planned_at_ten_seconds_a_sample(chaos, judgeable):
    """validate plans kube: cAdvisor series at cAdvisor's 10 s: 40 s of chaos cannot be judged."""
    data = {**KUBE, "phases": [{"name": "warmup", "duration": 20},
                               {"name": "chaos", "duration": chaos}],
            "thresholds": {"fds": {"max_growth_per_min": 30, "phases": ["chaos"]}}}
    problems = unjudgeable(scenario_from_dict(data))
    assert (problems == []) == judgeable, problems


# ---------------------------------------------------------------- the watch, with a fake API


def _v1pod(name, cid, *, ready=True, waiting=None, restarts=0, last=None):
    """A V1Pod-shaped object (attributes only): one container 'app'."""
    ns = SimpleNamespace
    state = ns(running=None if waiting else ns(), waiting=ns(reason=waiting) if waiting else None,
               terminated=None)
    return ns(
        metadata=ns(name=name, uid=f"uid-{name}", creation_timestamp=None,
                    deletion_timestamp=None),
        spec=ns(node_name="node-1", containers=[ns(name="app")]),
        status=ns(phase="Running",
                  conditions=[ns(type="Ready", status="True" if ready else "False")],
                  container_statuses=[ns(name="app", container_id=f"containerd://{cid}",
                                         ready=ready, restart_count=restarts, state=state,
                                         last_state=ns(terminated=last))]))


class _Core:
    """CoreV1Api's two calls the watch makes; ``fail`` makes the node read time out."""

    def __init__(self, pods):
        self.pods = pods
        self.fail = False
        self.only: str | None = None  # serve only this cAdvisor series
        self.calls: list[str] = []

    def list_namespaced_pod(self, namespace, label_selector, _request_timeout):
        self.calls.append(f"pods {namespace} {label_selector} {_request_timeout}")
        return SimpleNamespace(items=self.pods)

    def connect_get_node_proxy_with_path(self, node, path, _request_timeout,
                                         _preload_content):
        self.calls.append(f"node {node} {path}")
        if self.fail:
            raise TimeoutError("read timed out")
        ids = [p.status.container_statuses[0].container_id.rpartition("/")[2]
               for p in self.pods]
        now_ms = int(time.time() * 1000)
        names = [n for n in CADVISOR_METRICS.values() if self.only in (None, n)]
        page = "\n".join(f'{name}{{id="/p/{cid}"}} 9 {now_ms}' for cid in ids for name in names)
        return SimpleNamespace(data=page.encode(), release_conn=lambda: None)


def _watch(tmp_path, core, sampled=None):
    api = SimpleNamespace(core=core, apps=None, where="fake", client=None)
    ref = KubeRef(namespace="apps", selector={"app": "web"}, port=8080)
    events = EventLog(tmp_path / "events.jsonl", time.time())
    return KubeWatch(api, ref, "web", events, sampled=sampled), events  # type: ignore[arg-type]


def test_a_series_the_kubelet_does_not_export_is_no_gap_unless_sampled(tmp_path):
    """A page without container_oom_events_total: no gap for a target not sampling it."""
    core = _Core([_v1pod("web-1", A)])
    core.only = "container_file_descriptors"
    watch, events = _watch(tmp_path, core, sampled=["fds", "restarts"])
    try:
        watch.wait_ready(0.0)
        assert watch.poll_once().values["fds"] == 9
    finally:
        events.close()
    assert '"kube_gap"' not in (tmp_path / "events.jsonl").read_text()
    (tmp_path / "all").mkdir()
    other, events2 = _watch(tmp_path / "all", core)  # every cAdvisor series wanted
    try:
        with pytest.raises(TargetUnhealthy, match="no kubelet metrics yet"):
            other.wait_ready(0.0)
    finally:
        events2.close()


def test_a_timed_out_node_read_is_a_gap_with_its_reason_and_one_request_per_node(tmp_path):
    """Two pods on one node: one node request a poll; a timeout is a kube_gap, then its end."""
    core = _Core([_v1pod("web-1", A), _v1pod("web-2", B)])
    watch, events = _watch(tmp_path, core)
    try:
        _poll_through_a_timeout(watch, core)
    finally:
        events.close()
    gaps = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()
            if '"kube_gap"' in line]
    assert [(g["state"], "read timed out" in g["reason"]) for g in gaps] == [
        ("start", True), ("end", True)]


def _poll_through_a_timeout(watch, core):
    assert watch.poll_once().values["fds"] == 18
    assert [c.split()[0] for c in core.calls] == ["pods", "node"]
    assert "(1.0, 2.0)" in core.calls[0]  # every call carries the poll's timeouts
    core.fail = True
    reading = watch.poll_once()
    assert reading.values["fds"] is None and "read timed out" in reading.gaps["fds"]
    core.fail = False
    watch.poll_once()


def test_pods_that_never_get_ready_fail_the_wait_naming_them(tmp_path):
    """wait_ready: a pod in CrashLoopBackOff is an environment failure naming it and why."""
    watch, events = _watch(tmp_path, _Core([_v1pod("web-1", A, ready=False,
                                                    waiting="CrashLoopBackOff")]))
    try:
        with pytest.raises(TargetUnhealthy, match=r"1 of 1 pod\(s\) not ready: web-1 "
                                                  r"\(app: CrashLoopBackOff\)"):
            watch.wait_ready(0.0)
        watch.tracker = PodTracker("web", "apps", 0.0)
        watch.api.core.pods = []
        with pytest.raises(TargetUnhealthy, match="no pod matches app=web in namespace apps"):
            watch.wait_ready(0.0)
    finally:
        events.close()
