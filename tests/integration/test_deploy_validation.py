"""Offline validation of compose.yaml, the workflow and the Helm chart (no engine, no cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scenario import scenario_from_dict

REPO = Path(__file__).resolve().parents[2]
HELM = Path(os.environ.get("HARNESS_TOOLS_DIR") or REPO / ".tools") / "bin" / "helm"
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
needs_helm = pytest.mark.skipif(
    not HELM.exists(), reason="helm not built: run scripts/validate-deploy.sh --install-helm")


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=REPO, capture_output=True, text=True,
                          timeout=170)


@needs_helm
def test_validate_deploy_script_passes():
    """scripts/validate-deploy.sh passes every step on the committed files."""
    done = run("bash", "scripts/validate-deploy.sh")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout + done.stderr


def test_compose_schema_check_rejects_a_broken_file(tmp_path: Path):
    """The compose schema step fails on a service with an unknown key (it has teeth)."""
    data = yaml.safe_load((REPO / "compose.yaml").read_text())
    data["services"]["toxiproxy"]["imagee"] = "typo"
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(data))
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", broken)
    assert done.returncode != 0


@needs_helm
@pytest.mark.parametrize(("setting", "message"), [
    ("harness.durationScale=0", "at '/harness/durationScale'"),
    ("locust.workers.replicas=2", "'replicas' not allowed"),
    ("scenario.content.load.workers=65", "at '/scenario/content/load/workers'"),
    ("cronJob.concurrencyPolicy=Sometimes", "at '/cronJob/concurrencyPolicy'"),
])
def test_chart_schema_refuses_bad_values_naming_them(setting: str, message: str):
    """helm template refuses a bad value through values.schema.json, naming the value."""
    done = run(HELM, "template", "t", "charts/soak-harness", "--kube-version", "1.31.0",
               "--set", setting)
    assert done.returncode != 0
    assert "don't meet the specifications of the schema" in done.stderr, done.stderr
    assert message in done.stderr, done.stderr


RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
               "app.kubernetes.io/version", "app.kubernetes.io/component",
               "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart")


@needs_helm
def test_chart_pods_are_non_root_with_limits_labels_and_no_token():
    """Every rendered pod (worker pods and the helm test pod too) runs non-root, read-only,
    no capabilities, with limits, no service account token (the chart's account for the
    workloads), and the Kubernetes recommended labels; every object has those labels."""
    done = run(HELM, "template", "t", "charts/soak-harness", "--kube-version", "1.31.0",
               "--set", "scenario.content.load.workers=2")
    assert done.returncode == 0, done.stderr
    pods = []
    for doc in yaml.safe_load_all(done.stdout):
        if not doc:
            continue
        labels = doc["metadata"]["labels"]
        assert all(key in labels for key in RECOMMENDED), (doc["metadata"]["name"], labels)
        if doc["kind"] == "Pod":
            pods.append((doc["metadata"]["name"], doc["metadata"], doc["spec"]))
        if doc["kind"] not in ("Deployment", "Job", "CronJob"):
            continue
        spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
        pods.append((doc["metadata"]["name"], spec["template"]["metadata"],
                     spec["template"]["spec"]))
    # toxiproxy, the healthy sample, Locust workers, the Job, the CronJob, the helm test pod
    assert len(pods) == 6
    for name, meta, pod in pods:
        assert all(key in meta["labels"] for key in RECOMMENDED), name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        # the helm test pod runs as the namespace's default account (dry runs accept it)
        assert pod.get("serviceAccountName") == (None if name == "t-soak-harness-test"
                                                 else "t-soak-harness"), name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["limits"], name


KUBE_TARGET = ["--set", "scenario.targets.api=null", "--set", "scenario.content.target.sample=null",
               "--set", "scenario.content.target.kube.namespace=apps",
               "--set", "scenario.content.target.kube.deployment=web",
               "--set", "scenario.content.target.kube.port=8080"]


@needs_helm
@pytest.mark.parametrize(("args", "namespaces"), [
    ([], None),  # no Kubernetes target: no RBAC, no token anywhere
    (KUBE_TARGET, ["apps"]),  # auto: a Role where the target lives
    (["--set", "rbac.create=true"], ["soak"]),  # forced on: the release's namespace
    ([*KUBE_TARGET, "--set", "rbac.create=false"], None),
])
def test_chart_rbac_is_read_only_and_as_narrow_as_kubernetes_allows(args, namespaces):
    """rbac.yaml: Roles with pods get/list/watch and deployments get, one ClusterRole with
    only nodes/proxy get, bound to the chart's account; its token mounted in the harness
    pods only, and only then."""
    done = run(HELM, "template", "t", "charts/soak-harness", "-n", "soak", "--kube-version",
               "1.31.0", *args)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    rbac = {(d["kind"], d["metadata"].get("namespace")): d for d in docs
            if d["apiVersion"].startswith("rbac.")}
    mounts = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            mounts[doc["metadata"]["name"]] = spec["template"]["spec"][
                "automountServiceAccountToken"]
    harness_pods = {"t-soak-harness-run-1", "t-soak-harness-nightly"}
    assert harness_pods <= set(mounts), mounts
    if namespaces is None:
        assert rbac == {}
        assert not any(mounts.values()), mounts
        return
    assert {name for name, mounted in mounts.items() if mounted} == harness_pods
    assert set(rbac) == {("Role", ns) for ns in namespaces} | {
        ("RoleBinding", ns) for ns in namespaces} | {("ClusterRole", None),
                                                     ("ClusterRoleBinding", None)}
    for ns in namespaces:
        assert rbac[("Role", ns)]["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]
        assert rbac[("RoleBinding", ns)]["subjects"] == [
            {"kind": "ServiceAccount", "name": "t-soak-harness", "namespace": "soak"}]
    assert rbac[("ClusterRole", None)]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}]
    assert rbac[("ClusterRoleBinding", None)]["roleRef"]["name"] == \
        rbac[("ClusterRole", None)]["metadata"]["name"]


def _objects(*sets: str) -> list[dict[str, Any]]:
    argv: list[str | Path] = [HELM, "template", "t", "charts/soak-harness", "--namespace", "shop",
                              "--kube-version", "1.31.0"]
    for setting in sets:
        argv += ["--set", setting]
    done = run(*argv)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@needs_helm
def test_the_pod_fault_role_is_namespaced_exact_and_only_when_enabled():
    """faults.pods.enabled: a Role (never a ClusterRole) in the release's namespace with
    exactly the calls pod faults make, bound to the chart's service account; off: none."""
    assert not [d for d in _objects() if d["kind"] in ("Role", "RoleBinding")
                and d["metadata"]["name"].endswith("pod-faults")]
    objs = _objects("faults.pods.enabled=true")
    assert not [d for d in objs if d["kind"].startswith("Cluster")]
    (role,) = [d for d in objs if d["kind"] == "Role"]
    (binding,) = [d for d in objs if d["kind"] == "RoleBinding"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "shop"
    rules = {(g, r): sorted(rule["verbs"]) for rule in role["rules"]
             for g in rule["apiGroups"] for r in rule["resources"]}
    assert rules == {("", "pods"): ["delete", "get", "list"],
                     ("", "pods/exec"): ["create", "get"],
                     ("apps", "deployments"): ["get"],
                     ("apps", "deployments/scale"): ["get", "patch"]}
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "t-soak-harness",
                                    "namespace": "shop"}]
    # the harness Job gets the account's token to make those calls with
    (job,) = [d for d in objs if d["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


@needs_helm
def test_a_route_puts_toxiproxy_in_front_of_a_named_service():
    """toxiproxy.routes: the scenario's first proxy dials <service>.<ns>.svc:<port>, the
    attach section and Toxiproxy's pod and Service carry its port; the load goes through it."""
    objs = _objects("toxiproxy.routes[0].service=web", "toxiproxy.routes[0].port=8080",
                    "toxiproxy.routes[0].listenPort=18080")
    config = next(d for d in objs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].endswith("-scenario"))
    scenario = yaml.safe_load(config["data"]["scenario.yaml"])
    assert scenario["proxies"][0] == {"name": "web", "upstream": "web.shop.svc:8080"}
    assert scenario["attach"]["proxies"]["web"] == {
        "listen": "t-soak-harness-toxiproxy:18080", "upstream": "web.shop.svc:8080"}
    service = next(d for d in objs if d["kind"] == "Service"
                   and d["metadata"]["name"] == "t-soak-harness-toxiproxy")
    assert {"name": "rt0-web", "port": 18080, "targetPort": 18080, "protocol": "TCP"} in \
        service["spec"]["ports"]
    parsed = scenario_from_dict(scenario)  # the harness accepts what the chart generates
    assert parsed.proxies[0].name == "web" and parsed.load.host is None  # first proxy: load
