"""Offline validation of compose.yaml, the workflow and the Helm chart (no engine, no cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / ".tools/bin/helm"
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
def test_chart_refuses_a_load_proxy_that_does_not_exist():
    """helm template fails naming locust.proxy when it is not a key of scenario.proxies."""
    done = run(HELM, "template", "t", "charts/soak-harness", "--kube-version", "1.31.0",
               "--set", "locust.proxy=nope")
    assert done.returncode != 0 and "locust.proxy" in done.stderr


@needs_helm
def test_chart_pods_are_non_root_with_limits():
    """Every rendered container runs non-root, read-only, no capabilities, with limits."""
    done = run(HELM, "template", "t", "charts/soak-harness", "--kube-version", "1.31.0")
    assert done.returncode == 0, done.stderr
    pods = []
    for doc in yaml.safe_load_all(done.stdout):
        if not doc or doc["kind"] not in ("Deployment", "Job", "CronJob"):
            continue
        spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
        pods.append((doc["metadata"]["name"], spec["template"]["spec"]))
    assert len(pods) == 6
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["limits"], name
