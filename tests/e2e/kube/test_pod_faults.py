"""Pod faults on the real cluster: the harness runs on the host (out of cluster), inside
the local cluster's network namespace, with a kubeconfig carrying the chart's service
account token, so the chart's Role is what allows (or refuses) its calls.

The target is the chart's healthy sample behind its Service; the load goes to the Service
straight (``load.host``: its cluster IP), ``--backend attach`` with the chart's Toxiproxy
(only pinged: the scenario has no proxy). Why not through Toxiproxy: Toxiproxy 2.12 dials
each upstream inside its accept loop (``net.Dial``, no timeout), and deleting a proxy waits
for that loop; while a new connection goes to a pod that is gone, every client of the proxy
waits and its API's proxy list with it: seen here (the API silent > 5 s after a pod
delete), Toxiproxy's behaviour, not the pod fault's. The load is ``GatewayUser`` with a 2 s
timeout: ``HttpApiUser`` keeps Locust's 60 s default, and after a pod delete its users sat
on connections to the vanished pod for the rest of a 35 s recovery (4 failures per ~15 s,
no success), while the Service answered again within ~4 s. The cluster namespace's own
processes have no route to Service addresses (kube-proxy's rules serve pods, and nodes
with a default route): ``service_route`` adds one for the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import EnvironmentFailure
from harness.kube import PodFaults, connect
from harness.scenario import KubeRef, PodFault
from tests.conftest import REPO
from tests.e2e.kube.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("kube")]

RELEASE = "soak"
FULL = "soak-soak-harness"
SAMPLE = f"{FULL}-healthy"
SA = FULL


def _install(kube: Kube, ns: str) -> None:
    """Toxiproxy + the healthy sample + the pod-fault Role and the read-only RBAC (the
    target's default kube: metrics read its pods and the kubelet's cAdvisor page); no Job
    (the harness runs here)."""
    kube.run("helm", "install", RELEASE, str(kube.chart), "--namespace", ns, *kube.image_args,
             "--set", "job.enabled=false", "--set", "cronJob.enabled=false",
             "--set", "reports.persistence.enabled=false", "--set", "faults.pods.enabled=true",
             "--set", "rbac.create=true",
             "--wait", "--timeout", "5m", timeout=330)


def _token_kubeconfig(kube: Kube, ns: str, path: Path) -> Path:
    """A kubeconfig for the chart's service account: its own token, no admin certificate."""
    token = kube.run("kubectl", "-n", ns, "create", "token", SA, "--duration", "1h").stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster["cluster"]}],
        "users": [{"name": SA, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": SA, "namespace": ns}}],
        "current-context": "sa"}))
    return path


def _cluster_netns(kube: Kube) -> str:
    """The local cluster's network namespace (named like its one node)."""
    if not kube.local:
        pytest.skip("the harness reaches Service addresses through the local cluster's "
                    "network namespace; a cluster of your own needs its own route")
    node = kube.run("kubectl", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    path = f"/var/run/netns/{node}"
    assert os.path.exists(path), f"no network namespace {path} for node {node}"
    return path


SERVICE_CIDR = "10.96.0.0/16"  # scripts/kube-cluster.sh


@pytest.fixture
def service_route(kube: Kube) -> Iterator[str]:
    """The cluster's network namespace (path), with a route to Service addresses for the
    test (kube-proxy's OUTPUT rules then send them to a pod, as on a node); removed after."""
    netns = _cluster_netns(kube)
    ns_ip = ["nsenter", f"--net={netns}", "ip", "route"]
    had = subprocess.run([*ns_ip, "show", SERVICE_CIDR], capture_output=True, text=True,
                         check=True).stdout.strip()
    if not had:
        # cni0 appears with the cluster's first pod; on a cluster that has run none yet,
        # make the bridge the CNI config names (its bridge plugin adopts an existing one)
        ns_link = ["nsenter", f"--net={netns}", "ip", "link"]
        if subprocess.run([*ns_link, "show", "cni0"], capture_output=True).returncode != 0:
            subprocess.run([*ns_link, "add", "cni0", "type", "bridge"], check=True)
            subprocess.run([*ns_link, "set", "cni0", "up"], check=True)
        subprocess.run([*ns_ip, "add", SERVICE_CIDR, "dev", "cni0"], check=True)
    try:
        yield netns
    finally:
        if not had:
            subprocess.run([*ns_ip, "del", SERVICE_CIDR, "dev", "cni0"], check=True)


def _service_ip(kube: Kube, ns: str) -> str:
    return kube.run("kubectl", "-n", ns, "get", "service", SAMPLE, "-o",
                    "jsonpath={.spec.clusterIP}").stdout


def _toxiproxy_ip(kube: Kube, ns: str) -> str:
    """The Toxiproxy pod's address: a process of the cluster's network namespace has no
    route to Service addresses (kube-proxy's rules serve pods), but reaches pods; the
    Toxiproxy pod is never faulted, and it dials the sample by its Service's name."""
    return kube.run("kubectl", "-n", ns, "get", "pods", "-l",
                    "app.kubernetes.io/component=toxiproxy", "-o",
                    "jsonpath={.items[0].status.podIP}").stdout


def _scenario(kube: Kube, ns: str, folder: Path, faults: str, *, chaos: str = "20s",
              recovery: str = "15s") -> Path:
    tox = _toxiproxy_ip(kube, ns)
    svc = _service_ip(kube, ns)
    path = folder / "scenario.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: pod-faults
        target: {{name: web, kube: {{namespace: {ns}, deployment: {SAMPLE}, port: 8080}}}}
        load: {{user: GatewayUser, users: 4, spawn_rate: 4, host: "http://{svc}:8080",
                options: {{path: "/api/item/{{n}}", timeout: 2, wait: [0.01, 0.05]}}}}
        sample_interval: 1s
        phases:
          - {{name: warmup, duration: 8s}}
          - {{name: chaos, duration: {chaos}, pod_faults: {faults}}}
          - {{name: recovery, duration: {recovery}}}
        thresholds:
          error_ratio: {{max: 0.01, phases: [warmup, recovery]}}
        attach:
          toxiproxy: http://{tox}:8474
          timeout: 60s
        """))
    return path


def _harness(kube: Kube, netns: str, kubeconfig: Path, scenario: Path, out: Path,
             ) -> subprocess.Popen[str]:
    env = {**kube.env, "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.Popen(
        ["nsenter", f"--net={netns}", "--", sys.executable, "-m", "harness", "run",
         str(scenario), "--backend", "attach", "--out", str(out), "-q"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"the harness did not end within {timeout} s:\n{out[-3000:]}") from None
    return proc.returncode, out


def _events(out: Path) -> list[dict[str, Any]]:
    path = out / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_fault_added(proc: subprocess.Popen[str], out: Path, timeout: float = 120) -> None:
    """Until the run's events say its fault is in force (the harness still running)."""
    deadline = time.monotonic() + timeout
    while not any(e["kind"] == "fault_added" for e in _events(out)):
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, f"no fault_added within {timeout:g} s"
        time.sleep(0.2)


def _latency(out: Path) -> list[tuple[float, int, int]]:
    """(t, requests, failures) per window of latency.csv."""
    lines = (out / "latency.csv").read_text().splitlines()
    head = lines[0].split(",")
    rows = [dict(zip(head, line.split(","), strict=False)) for line in lines[1:]]
    return [(float(r["t"]), int(float(r["requests"])), int(float(r["failures"]))) for r in rows]


def _phase_span(events: list[dict[str, Any]], name: str) -> tuple[float, float]:
    start = next(e["t"] for e in events if e["kind"] == "phase_start" and e["phase"] == name)
    end = next(e["t"] for e in events if e["kind"] == "phase_end" and e["phase"] == name)
    return start, end


def _replicas(kube: Kube, ns: str) -> tuple[int, int]:
    """(spec.replicas, status.readyReplicas) of the sample's Deployment."""
    spec = kube.run("kubectl", "-n", ns, "get", "deployment", SAMPLE, "-o",
                    "jsonpath={.spec.replicas} {.status.readyReplicas}").stdout.split()
    return int(spec[0]), int(spec[1]) if len(spec) > 1 else 0


def _pods(kube: Kube, ns: str) -> list[dict[str, Any]]:
    got = kube.run("kubectl", "-n", ns, "get", "pods", "-l",
                   "app.kubernetes.io/component=sample-healthy", "-o", "json").stdout
    return list(json.loads(got)["items"])


def test_pod_delete_shows_in_events_and_report_and_the_target_recovers(
        kube: Kube, kube_ns: str, tmp_path: Path, service_route: str):
    """Deleting the only pod mid-run: fault_added names it, the load fails then succeeds
    again on a new ready pod, the recovery phase's error check passes (exit 0)."""
    _install(kube, kube_ns)
    netns = service_route
    before = {p["metadata"]["name"] for p in _pods(kube, kube_ns)}
    config = _token_kubeconfig(kube, kube_ns, tmp_path / "sa.kubeconfig")
    scenario = _scenario(kube, kube_ns, tmp_path,
                         "[{target: web, type: delete}]")
    out = tmp_path / "run"
    code, log = _finish(_harness(kube, netns, config, scenario, out))
    events = _events(out)
    added = [e for e in events if e["kind"] == "fault_added"]
    assert len(added) == 1, log[-3000:]
    assert added[0]["proxy"] == "kube:web" and added[0]["type"] == "delete"
    assert set(added[0]["pods"]) == before, (added[0], before)
    assert any(e["kind"] == "fault_removed" and e["toxic"] == added[0]["toxic"] for e in events)
    # the load: failures while the pod was gone, none in the recovery phase, requests there
    windows = _latency(out)
    c0, c1 = _phase_span(events, "chaos")
    r0, r1 = _phase_span(events, "recovery")
    w0, _ = _phase_span(events, "warmup")
    warm = sorted(r for t, r, _ in windows if w0 + 2 <= t < c0)
    chaos_fail = sum(f for t, _, f in windows if c0 <= t < c1)
    chaos_low = min(r for t, r, _ in windows if added[0]["t"] <= t < c1)
    rec_req = sum(r for t, r, _ in windows if r0 <= t <= r1 + 1)
    rec_fail = sum(f for t, _, f in windows if r0 <= t <= r1 + 1)
    print(f"pod delete: warmup median {warm[len(warm) // 2]} requests/s; chaos: lowest "
          f"{chaos_low} requests/s, {chaos_fail} failed; recovery {rec_req} requests, "
          f"{rec_fail} failed")
    # the only pod gone: requests fail, or (Toxiproxy holding them while the new pod
    # starts) stall: a window under half the warmup's median either way
    assert chaos_fail > 0 or chaos_low < warm[len(warm) // 2] / 2, (
        "deleting the only pod neither failed nor stalled the load: the fault did not bite")
    assert rec_req > 0 and rec_fail == 0, (rec_req, rec_fail, log[-2000:])
    after = {p["metadata"]["name"] for p in _pods(kube, kube_ns)}
    assert after and not after & before, (before, after)
    assert _replicas(kube, kube_ns) == (1, 1)
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["verdict"] == "pass", (code, summary["verdict"], log[-3000:])
    html = (out / "report.html").read_text()
    assert "delete on kube:web" in html


def test_scale_to_zero_is_restored_at_the_phase_end_and_on_sigint(
        kube: Kube, kube_ns: str, tmp_path: Path, service_route: str):
    """scale_zero: replicas 0 during the phase, back to the original count at its end; a
    second run interrupted by SIGINT mid-fault also scales back before it exits; a third
    one SIGKILLed mid-fault is scaled back by `harness report` on its folder."""
    _install(kube, kube_ns)
    netns = service_route
    kube.run("kubectl", "-n", kube_ns, "scale", "deployment", SAMPLE, "--replicas", "2")
    kube.run("kubectl", "-n", kube_ns, "rollout", "status", "deployment", SAMPLE,
             "--timeout", "180s", timeout=200)
    config = _token_kubeconfig(kube, kube_ns, tmp_path / "sa.kubeconfig")
    scenario = _scenario(kube, kube_ns, tmp_path, "[{target: web, type: scale_zero}]",
                         chaos="10s", recovery="15s")
    # 1: to the end: undone at the chaos phase's end
    out = tmp_path / "run1"
    proc = _harness(kube, netns, config, scenario, out)
    seen_zero = False
    while proc.poll() is None and not seen_zero:
        if any(e["kind"] == "fault_added" for e in _events(out)):
            seen_zero = _replicas(kube, kube_ns)[0] == 0
        time.sleep(0.5)
    code, log = _finish(proc)
    assert seen_zero, f"the Deployment was never seen at 0 replicas:\n{log[-3000:]}"
    events = _events(out)
    undone = [e for e in events if e["kind"] == "pod_fault_undone"]
    assert [(e["phase"], e["replicas"]) for e in undone] == [("chaos", 2)], log[-3000:]
    added = next(e for e in events if e["kind"] == "fault_added")
    assert added["replicas_before"] == 2
    assert _replicas(kube, kube_ns)[0] == 2
    kube.run("kubectl", "-n", kube_ns, "rollout", "status", "deployment", SAMPLE,
             "--timeout", "180s", timeout=200)
    # 2: SIGINT while at zero
    out = tmp_path / "run2"
    proc = _harness(kube, netns, config, scenario, out)
    _wait_fault_added(proc, out)
    assert _replicas(kube, kube_ns)[0] == 0
    proc.send_signal(signal.SIGINT)
    code, log = _finish(proc, timeout=120)
    spec, _ = _replicas(kube, kube_ns)
    print(f"SIGINT mid-fault: harness exit {code}, replicas after: {spec}")
    assert spec == 2, f"replicas {spec} after SIGINT (exit {code}):\n{log[-3000:]}"
    events = _events(out)
    assert any(e["kind"] == "interrupted" for e in events)
    assert [e["replicas"] for e in events if e["kind"] == "pod_fault_undone"] == [2]
    kube.run("kubectl", "-n", kube_ns, "rollout", "status", "deployment", SAMPLE,
             "--timeout", "180s", timeout=200)
    # 3: the harness SIGKILLed while at zero: `harness report` on its folder scales back
    out = tmp_path / "run3"
    proc = _harness(kube, netns, config, scenario, out)
    _wait_fault_added(proc, out)
    proc.kill()
    _finish(proc, timeout=60)
    assert _replicas(kube, kube_ns)[0] == 0  # nothing could undo it: the harness is gone
    env = {**kube.env, "KUBECONFIG": str(config)}
    report = subprocess.run([sys.executable, "-m", "harness", "report", str(out)], env=env,
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    spec, _ = _replicas(kube, kube_ns)
    reason = json.loads((out / "run.json").read_text())["reason"]
    print(f"SIGKILL mid-fault: replicas {spec} after `harness report` ({reason[-80:]!r})")
    assert spec == 2, (report.returncode, report.stdout[-2000:], report.stderr[-2000:])
    assert "scaled back from 0 to 2 replicas" in reason, reason


def test_kill_restarts_the_main_container(kube: Kube, kube_ns: str, tmp_path: Path,
                                         service_route: str):
    """kill: the sample's container is ended in place; its restartCount rises (read from the
    API here, not only from the harness's event)."""
    _install(kube, kube_ns)
    netns = service_route
    (pod,) = _pods(kube, kube_ns)
    name = pod["metadata"]["name"]
    before = pod["status"]["containerStatuses"][0]["restartCount"]
    config = _token_kubeconfig(kube, kube_ns, tmp_path / "sa.kubeconfig")
    scenario = _scenario(kube, kube_ns, tmp_path, "[{target: web, type: kill}]")
    out = tmp_path / "run"
    code, log = _finish(_harness(kube, netns, config, scenario, out))
    added = [e for e in _events(out) if e["kind"] == "fault_added"]
    assert len(added) == 1, log[-3000:]
    (kill,) = added[0]["kills"]
    (pod,) = _pods(kube, kube_ns)
    after = pod["status"]["containerStatuses"][0]["restartCount"]
    print(f"kill: SIG{kill['signal']}, restartCount {before} -> {after}, restarted within "
          f"{kill['restarted_within_s']} s; harness exit {code}")
    assert pod["metadata"]["name"] == name  # the same pod: killed in place, not replaced
    assert after > before, (before, after)
    assert kill["pod"] == name and kill["restarts_after"] > kill["restarts_before"]
    assert code == 0, log[-3000:]


def test_the_service_account_cannot_touch_another_namespace(
        kube: Kube, kube_ns: str, tmp_path: Path):
    """With the harness's own token: delete / scale in its namespace are allowed, a pod of
    another namespace is refused (403) by the API, both by kubectl and by the harness's
    own pod-fault call; the pod is still there afterwards."""
    _install(kube, kube_ns)
    config = _token_kubeconfig(kube, kube_ns, tmp_path / "sa.kubeconfig")
    other = f"{kube_ns[:50]}-other"
    kube.run("kubectl", "create", "namespace", other)
    try:
        kube.run("kubectl", "-n", other, "create", "deployment", "victim", "--image",
                 kube.image, "--", "python", "-c", "import time; time.sleep(3600)")
        kube.run("kubectl", "-n", other, "rollout", "status", "deployment", "victim",
                 "--timeout", "180s", timeout=200)
        victim = kube.run("kubectl", "-n", other, "get", "pods", "-l", "app=victim", "-o",
                          "jsonpath={.items[0].metadata.name}").stdout
        sa = ("--kubeconfig", str(config))
        for verb, what, ns, want in (("delete", "pods", kube_ns, "yes"),
                                     ("patch", "deployments --subresource=scale", kube_ns,
                                      "yes"),
                                     ("create", "pods --subresource=exec", kube_ns, "yes"),
                                     ("delete", "pods", other, "no"),
                                     ("patch", "deployments --subresource=scale", other, "no"),
                                     ("get", "secrets", kube_ns, "no")):
            got = kube.run("kubectl", *sa, "auth", "can-i", verb, *what.split(), "-n", ns,
                           check=False).stdout.strip()
            assert got == want, (verb, what, ns, got)
        done = kube.run("kubectl", *sa, "-n", other, "delete", "pod", victim, "--wait=false",
                        check=False)
        assert done.returncode != 0 and "Forbidden" in done.stderr, done.stderr
        faults = PodFaults(api_factory=lambda: connect(kubeconfig=str(config)))
        try:
            with pytest.raises(EnvironmentFailure, match="403 Forbidden"):
                faults.apply(PodFault(target="victim", type="delete"),
                             KubeRef(namespace=other, selector={"app": "victim"}, port=80),
                             "x")
            with pytest.raises(EnvironmentFailure, match="403 Forbidden"):
                faults.apply(PodFault(target="victim", type="scale_zero"),
                             KubeRef(namespace=other, deployment="victim", port=80), "y")
            assert faults.restore() == []  # refused before anything was in force
        finally:
            faults.close()
        still = kube.run("kubectl", "-n", other, "get", "pod", victim, "-o",
                         "jsonpath={.metadata.deletionTimestamp}")
        assert still.stdout == "", "the other namespace's pod is being deleted"
        assert kube.run("kubectl", "-n", other, "get", "deployment", "victim", "-o",
                        "jsonpath={.spec.replicas}").stdout == "1"
    finally:
        kube.run("kubectl", "delete", "namespace", other, "--wait=true", "--timeout=300s",
                 timeout=330)
