"""The chart against a real API server and a real node (the ``kube`` fixture's cluster).

Server-side validation of every values file the chart ships, the default Job run to its
verdict, and the local cluster script's idempotence. That the local cluster leaves nothing
behind when stopped is checked where it is stopped: ``make test`` runs
``scripts/kube-cluster.sh check-clean`` right after ``stop``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.kube.conftest import CHART, SCRIPT, Kube

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("kube")]

# new values files under ci/ join automatically
VALUES_FILES = sorted((CHART / "ci").glob("*values.yaml"))


def _render(kube: Kube, ns: str, *args: str) -> str:
    """helm template for the cluster's own version (helm's default is not the server's)."""
    version = json.loads(kube.run("kubectl", "version", "-o", "json").stdout)
    return kube.run("helm", "template", "soak", str(CHART), "--namespace", ns, *kube.image_args,
                    "--kube-version", version["serverVersion"]["gitVersion"], *args).stdout


@pytest.mark.parametrize("values", [None, *VALUES_FILES],
                         ids=["default", *(p.name for p in VALUES_FILES)])
def test_values_file_passes_server_side_strict_validation(kube: Kube, kube_ns: str,
                                                          values: Path | None):
    """Every object the values render is accepted by the API server's strict dry run."""
    manifest = _render(kube, kube_ns, *(["-f", str(values)] if values else []))
    kinds = re.findall(r"^kind: (\w+)", manifest, re.M)
    assert kinds, "the chart rendered nothing"
    done = kube.run("kubectl", "apply", "-n", kube_ns, "--dry-run=server", "--validate=strict",
                    "-f", "-", input=manifest)
    accepted = re.findall(r"^\S+ (?:created|configured|unchanged) \(server dry run\)$",
                          done.stdout, re.M)
    assert len(accepted) == len(kinds), (
        f"{len(kinds)} objects rendered, {len(accepted)} accepted:\n{done.stdout}\n{done.stderr}")


def test_strict_validation_rejects_an_unknown_field(kube: Kube, kube_ns: str):
    """The dry run is really strict: a misspelt field in a rendered object is refused."""
    manifest = _render(kube, kube_ns).replace("restartPolicy:", "restartPolicyy:", 1)
    done = kube.run("kubectl", "apply", "-n", kube_ns, "--dry-run=server", "--validate=strict",
                    "-f", "-", input=manifest, check=False)
    assert done.returncode != 0
    assert 'unknown field "spec.template.spec.restartPolicyy"' in done.stderr, done.stderr


def test_default_job_runs_to_complete_with_a_pass_verdict(kube: Kube, kube_ns: str):
    """helm install of the default values: the harness Job completes and its log says PASS."""
    # 0.2 x the default 7 min scenario = 84 s of phases; measured ~100 s from install to
    # Complete on an idle 2-core node. 15 min leaves room for a machine busy with other tests.
    started = time.monotonic()
    kube.run("helm", "install", "soak", str(CHART), "--namespace", kube_ns, *kube.image_args,
             "--set", "harness.durationScale=0.2", "--wait", "--wait-for-jobs",
             "--timeout", "15m", timeout=960)
    took = time.monotonic() - started
    jobs = kube.run("kubectl", "-n", kube_ns, "get", "jobs", "-l",
                    "app.kubernetes.io/component=harness", "-o", "name").stdout.split()
    assert len(jobs) == 1, jobs
    complete = kube.run("kubectl", "-n", kube_ns, "get", jobs[0], "-o",
                        "jsonpath={.status.conditions[?(@.type=='Complete')].status}").stdout
    assert complete == "True", f"{jobs[0]} is not Complete"
    logs = kube.run("kubectl", "-n", kube_ns, "logs", jobs[0]).stdout
    assert re.search(r"^PASS: ", logs, re.M), f"no PASS verdict in the Job's log:\n{logs[-3000:]}"
    print(f"default Job: install to Complete in {took:.0f} s")


def test_up_on_a_running_cluster_changes_nothing_and_is_quick(kube: Kube):
    """`kube-cluster.sh up` again: same kubeconfig, same daemons, done in seconds."""
    if not kube.local:
        pytest.skip("KUBECONFIG names a cluster of the user's: the local script is not used")
    before = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True,
                            timeout=60).stdout
    started = time.monotonic()
    up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == str(kube.kubeconfig)
    assert "started" not in up.stderr, f"a warm up started something:\n{up.stderr}"
    after = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True,
                           timeout=60).stdout
    pids = re.compile(r"^  [\w-]+: pid \d+$", re.M)
    assert pids.findall(before) == pids.findall(after) and len(pids.findall(after)) == 8, after
    # a few kubectl calls and file checks: ~3 s idle; 60 s for a machine busy with the suite
    assert took < 60, f"a warm up of a running cluster took {took:.0f} s"
