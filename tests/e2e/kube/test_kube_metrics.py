"""kube: metrics on the real cluster: a Deployment judged only through the API server.

Each test deploys the chart's own pieces into its namespace (the sample Deployment and
Service of templates/samples.yaml, the service account, and templates/rbac.yaml), and runs
the harness CLI on this host with a kubeconfig holding that service account's token
(`kubectl create token`), so every API call the harness makes is checked by the chart's
RBAC. The load reaches the sample through a real toxiproxy-server on 127.0.0.1 whose proxy
dials the sample's NodePort on the cluster's node address (the project's own network
namespace). cAdvisor measures a container every 10 s, up to ~20 s (the kubelet's dynamic
housekeeping: 11-20 s apart, 15 s on average, measured here), so the judged phase is 130 s
long, unscaled: 100 s gave exactly the 6 points a growth check needs (twice), 130 s gives
~8, room for slower housekeeping on a busy machine before the check would be ERROR.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.testing import free_port
from tests.conftest import REPO
from tests.e2e.kube.conftest import Kube

RELEASE = "km"
SA = f"{RELEASE}-soak-harness"
RUN_TIMEOUT = 480  # a 2.7-minute run, plus start-up and analysis on a busy 2-core machine


def _chart_pieces(kube: Kube, ns: str, tmp: Path, sample: str, variant: str,
                  memory_limit: str = "512Mi") -> str:
    """The chart's sample Deployment + Service, service account and RBAC, applied in ``ns``;
    the rendered manifest (to delete the cluster-scoped objects afterwards)."""
    values = {
        "rbac": {"create": True},
        "samples": {"variant": variant,
                    "items": [{"name": "app", "sample": sample, "variant": True, "args": []}],
                    "resources": {"requests": {"cpu": "100m", "memory": memory_limit},
                                  "limits": {"cpu": "1", "memory": memory_limit}}},
    }
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    rendered = kube.run("helm", "template", RELEASE, str(kube.chart), "-n", ns,
                        "--kube-version", "1.32.0", *kube.image_args, "-f", str(path),
                        "--show-only", "templates/serviceaccount.yaml",
                        "--show-only", "templates/rbac.yaml",
                        "--show-only", "templates/samples.yaml").stdout
    kube.run("kubectl", "-n", ns, "apply", "-f", "-", input=rendered)
    return rendered


def _delete_cluster_scoped(kube: Kube, rendered: str) -> None:
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"].startswith("Cluster")]
    for doc in docs:
        kube.run("kubectl", "delete", doc["kind"].lower(), doc["metadata"]["name"],
                 "--ignore-not-found", check=False)


def _sa_kubeconfig(kube: Kube, ns: str, tmp: Path) -> Path:
    """A kubeconfig whose user is the chart's service account (a 1-hour token)."""
    token = kube.run("kubectl", "-n", ns, "create", "token", SA, "--duration", "1h").stdout
    admin = yaml.safe_load(kube.kubeconfig.read_text(encoding="utf-8"))
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": SA, "user": {"token": token.strip()}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": SA, "namespace": ns}}],
    }
    path = tmp / "sa-kubeconfig"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)
    return path


def _node_port(kube: Kube, ns: str) -> str:
    """``node-address:nodePort`` of a NodePort Service in front of the sample."""
    deployment = f"{RELEASE}-soak-harness-app"
    kube.run("kubectl", "-n", ns, "expose", "deployment", deployment, "--name", "app-np",
             "--type", "NodePort", "--port", "8080", "--target-port", "http")
    port = kube.run("kubectl", "-n", ns, "get", "service", "app-np", "-o",
                    "jsonpath={.spec.ports[0].nodePort}").stdout
    node = kube.run("kubectl", "get", "nodes", "-o", "jsonpath={.items[0].status.addresses"
                    "[?(@.type==\"InternalIP\")].address}").stdout
    return f"{node}:{port}"


def _run_harness(kube: Kube, scenario: dict, tmp: Path, kubeconfig: Path
                 ) -> tuple[subprocess.CompletedProcess[str], dict]:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    out = tmp / "run"
    env = {**kube.env, "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--backend",
                           "attach", "--out", str(out)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8")) \
        if (out / "summary.json").exists() else {}
    return done, summary


def _scenario(ns: str, toxiproxy_url: str, upstream: str, load: dict, phases: list,
              thresholds: dict) -> dict:
    port = free_port()
    return {
        "name": "kube-metrics",
        "target": {"name": "app", "kube": {"namespace": ns,
                                           "deployment": f"{RELEASE}-soak-harness-app",
                                           "port": 8080}},
        "proxies": [{"name": "front", "upstream": "app"}],
        "load": load,
        "phases": phases,
        "thresholds": thresholds,
        "attach": {"toxiproxy": toxiproxy_url,
                   "proxies": {"front": {"listen": f"127.0.0.1:{port}",
                                         "bind": f"127.0.0.1:{port}", "upstream": upstream}},
                   "timeout": "120s"},
    }


STALLED_LOAD = {"user": "StalledStreamUser", "users": 10, "spawn_rate": 10,
                "options": {"ws_path": "/ws/stream", "interval": 0.5, "reply_timeout": 1.5,
                            "connect_timeout": 1.5}}
STALLED_PHASES = [
    {"name": "warmup", "duration": "15s"},
    {"name": "chaos", "duration": "130s", "faults": [
        {"proxy": "front", "type": "latency", "stream": "downstream",
         "attributes": {"latency": 10000}}]},
    {"name": "recovery", "duration": "10s", "users": 0},
]
# leaky: +1 fd per abandoned connection, ~6 a second; fixed: flat (a 3 s read deadline)
STALLED_THRESHOLDS = {
    "fds": {"max_growth_per_min": 30, "phases": ["chaos"], "settle": "4s"},
    "threads": {"max_growth_per_min": 30, "phases": ["chaos"], "settle": "4s"},
}


def _checks(summary: dict) -> dict[str, dict]:
    return {c["name"]: c for c in summary.get("checks", [])}


@pytest.mark.parametrize("variant, code", [("leaky", 1), ("fixed", 0)])
def test_a_leaky_deployment_fails_on_kube_fds_and_its_fixed_twin_passes(
        kube, kube_ns, tmp_path, toxiproxy_server, variant, code):
    """stalled_stream judged only through kube: metrics: leaky fails fds growth, fixed passes."""
    rendered = _chart_pieces(kube, kube_ns, tmp_path, "stalled_stream", variant)
    try:
        upstream = _node_port(kube, kube_ns)
        config = _sa_kubeconfig(kube, kube_ns, tmp_path)
        scenario = _scenario(kube_ns, toxiproxy_server.url, upstream, STALLED_LOAD,
                             STALLED_PHASES, STALLED_THRESHOLDS)
        done, summary = _run_harness(kube, scenario, tmp_path, config)
    finally:
        _delete_cluster_scoped(kube, rendered)
    checks = _checks(summary)
    report = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == code, report
    fds = checks["fds.growth[app]"]
    assert fds["verdict"] == ("fail" if variant == "leaky" else "pass"), fds["detail"]
    assert fds["evidence"]["n_samples"] >= 6, fds["evidence"]  # cAdvisor's measurements
    assert checks["target.restarts[app]"]["verdict"] == "pass", checks["target.restarts[app]"]
    assert checks["target.observed[app]"]["verdict"] == "pass", checks["target.observed[app]"]
    # the per-container series kept as evidence (processes.csv: pid 0, pod/container)
    rows = (tmp_path / "run" / "processes.csv").read_text(encoding="utf-8").splitlines()
    assert any(",app,0," in r and "/sample,fds," in r for r in rows), rows[:5]
    print(f"{variant}: {fds['detail']}")


def test_a_memory_leak_oom_killed_under_a_low_limit_fails_naming_the_restart(
        kube, kube_ns, tmp_path, toxiproxy_server):
    """retained_buffers (leaky) under a 64Mi limit is OOM-killed: the restart check names it."""
    rendered = _chart_pieces(kube, kube_ns, tmp_path, "retained_buffers", "leaky",
                             memory_limit="64Mi")
    try:
        upstream = _node_port(kube, kube_ns)
        config = _sa_kubeconfig(kube, kube_ns, tmp_path)
        scenario = _scenario(
            kube_ns, toxiproxy_server.url, upstream,
            {"user": "IngestUser", "users": 4, "spawn_rate": 4,
             "options": {"ingest_path": "/ingest", "payload_bytes": 300, "rate": 10}},
            [{"name": "warmup", "duration": "10s"},
             {"name": "chaos", "duration": "70s", "faults": [
                 {"proxy": "front", "type": "slicer", "stream": "upstream",
                  "attributes": {"average_size": 64, "size_variation": 32, "delay": 200}}]},
             {"name": "recovery", "duration": "10s", "users": 0}],
            {})  # the restart is the verdict: a 70 s phase gives no growth check its 6 points
        done, summary = _run_harness(kube, scenario, tmp_path, config)
    finally:
        _delete_cluster_scoped(kube, rendered)
    checks = _checks(summary)
    report = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 1, report
    restarts = checks["target.restarts[app]"]
    assert restarts["verdict"] == "fail", restarts
    assert "OOMKilled" in restarts["detail"] and "container sample" in restarts["detail"]
    assert f"pod {RELEASE}-soak-harness-app-" in restarts["detail"]
    print(restarts["detail"])


def test_the_harness_service_account_can_read_its_pods_and_nothing_else(kube, kube_ns,
                                                                       tmp_path):
    """With the chart's RBAC, the harness's own token reads pods and cAdvisor; secrets,
    another namespace and writes are refused by the API server (403)."""
    rendered = _chart_pieces(kube, kube_ns, tmp_path, "healthy", "fixed")
    try:
        config = _sa_kubeconfig(kube, kube_ns, tmp_path)

        def as_sa(*args: str) -> subprocess.CompletedProcess[str]:
            return kube.run("kubectl", "--kubeconfig", str(config), *args, check=False)

        node = kube.run("kubectl", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"
                        ).stdout
        allowed = [
            as_sa("-n", kube_ns, "get", "pods"),
            as_sa("-n", kube_ns, "get", "deployment", f"{RELEASE}-soak-harness-app"),
            as_sa("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics/cadvisor"),
        ]
        for done in allowed:
            assert done.returncode == 0, done.stderr
        refused = {
            "secrets here": as_sa("get", "--raw", f"/api/v1/namespaces/{kube_ns}/secrets"),
            "a secret by name": as_sa("-n", kube_ns, "get", "secret", "anything"),
            "pods elsewhere": as_sa("get", "--raw", "/api/v1/namespaces/default/pods"),
            "all namespaces": as_sa("get", "pods", "--all-namespaces"),
            "delete a pod": as_sa("-n", kube_ns, "delete", "pods", "--all"),
            "list nodes": as_sa("get", "nodes"),
        }
        for what, done in refused.items():
            assert done.returncode != 0, f"{what}: allowed\n{done.stdout[:500]}"
            assert "forbidden" in done.stderr.lower() or "(Forbidden)" in done.stderr, \
                f"{what}: not refused as 403\n{done.stderr}"
        # the raw API answer is a 403 Status, not a missing object
        raw = as_sa("get", "--raw", f"/api/v1/namespaces/{kube_ns}/secrets", "-v=6")
        assert "403 Forbidden" in raw.stderr, raw.stderr[-2000:]
    finally:
        _delete_cluster_scoped(kube, rendered)
