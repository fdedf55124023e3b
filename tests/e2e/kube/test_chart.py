"""The chart's own behaviour on a real cluster (the ``kube`` fixture): bad values refused by
the values schema, the leaky/fixed sample pair as Jobs (the leaky Job fails and says why, the
fixed one completes), run folders copied out with ``harness fetch`` and junit.xml with
kubectl alone, ``helm test``, and Locust across two worker pods merged exactly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.runfolder import read_latency
from tests.e2e.kube.conftest import CHART, Kube

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("kube")]

JUNIT_SED = "sed -n '/^--- begin junit.xml/,/^--- end junit.xml ---$/{//!p}'"
WORKER_COUNT = re.compile(r"this worker recorded (\d+) requests in all \((\d+) failed\)")
# a Job of ~1 min of phases: ~2 min from install on an idle node; 10 min for a busy machine
JOB_TIMEOUT = 600


def install(kube: Kube, ns: str, *args: str) -> None:
    """helm install release "soak" and wait for its Deployments (not for the Job)."""
    kube.run("helm", "install", "soak", str(CHART), "--namespace", ns, *kube.image_args,
             *args, "--wait", "--timeout", "8m", timeout=520)


def harness_job(kube: Kube, ns: str) -> str:
    jobs = kube.run("kubectl", "-n", ns, "get", "jobs", "-l",
                    "app.kubernetes.io/component=harness", "-o", "name").stdout.split()
    assert len(jobs) == 1, jobs
    return jobs[0]


def wait_job(kube: Kube, ns: str, job: str) -> str:
    """Complete or Failed, whichever the Job reaches (AssertionError after JOB_TIMEOUT)."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        conditions = json.loads(kube.run("kubectl", "-n", ns, "get", job, "-o",
                                         "jsonpath={.status.conditions}").stdout or "[]")
        for cond in conditions:
            if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                return str(cond["type"])
        time.sleep(3)
    raise AssertionError(f"{job} neither Complete nor Failed after {JOB_TIMEOUT} s")


def fetch(kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    """``harness fetch`` as a user runs it: kubectl on PATH, the cluster's KUBECONFIG."""
    return subprocess.run([sys.executable, "-m", "harness", "fetch", *args], env=kube.env,
                          capture_output=True, text=True, timeout=300)


def no_reader_pods(kube: Kube, ns: str) -> list[str]:
    return kube.run("kubectl", "-n", ns, "get", "pods", "-l",
                    "app.kubernetes.io/component=fetch", "-o", "name").stdout.split()


def junit_from_logs(kube: Kube, ns: str, job: str) -> ET.Element:
    """junit.xml the documented way with kubectl only: the Job's log between the markers."""
    done = kube.run("sh", "-c", f"kubectl -n {ns} logs {job} | {JUNIT_SED}")
    return ET.fromstring(done.stdout)


def test_bad_values_are_refused_by_the_schema_before_anything_is_created(kube: Kube,
                                                                         kube_ns: str):
    """helm install with bad values fails with the schema's message naming each value, and
    leaves no release and no object in the namespace."""
    done = kube.run("helm", "install", "soak", str(CHART), "--namespace", kube_ns,
                    *kube.image_args, "--set", "harness.durationScale=0",
                    "--set", "samples.variant=leakyy", "--set", "locust.workers.replicas=2",
                    check=False, timeout=120)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr
    assert "at '/harness/durationScale'" in done.stderr, done.stderr
    assert "at '/samples/variant': value must be one of 'leaky', 'fixed'" in done.stderr
    assert "'replicas' not allowed" in done.stderr, done.stderr
    assert kube.run("helm", "list", "-n", kube_ns, "-q").stdout.strip() == ""
    left = kube.run("kubectl", "-n", kube_ns, "get", "all,pvc,configmap", "-l",
                    "app.kubernetes.io/part-of=soak-harness", "-o", "name").stdout.split()
    assert left == [], left


def test_leaky_job_fails_says_why_and_its_run_folder_comes_out_failed(kube: Kube,
                                                                       kube_ns: str,
                                                                       tmp_path: Path):
    """ci/leaky-values.yaml: the Job fails, its log names the failed checks and ends with the
    run folder; `harness fetch` copies that folder here with summary.json FAIL and deletes
    its reader pod; junit.xml comes out of the log with kubectl alone."""
    install(kube, kube_ns, "-f", str(CHART / "ci" / "leaky-values.yaml"))
    job = harness_job(kube, kube_ns)
    assert wait_job(kube, kube_ns, job) == "Failed"
    logs = kube.run("kubectl", "-n", kube_ns, "logs", job).stdout
    assert re.search(r"^FAIL: stalled_stream \[leaky\]", logs, re.M), logs[-3000:]
    # the failed checks, by name, in the Job's own log
    assert re.search(r"^  FAIL .*\b(tasks|fds)\b", logs, re.M), logs[-3000:]
    last = logs.strip().splitlines()[-1]
    folder = re.match(r"soak-harness: run folder /reports/(\S+) \(exit code 1\)", last)
    assert folder, last

    out = tmp_path / "leaky"
    done = fetch(kube, "soak", "-n", kube_ns, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"fetched {folder.group(1)} (FAIL)" in done.stdout, done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "fail" and summary["variant"] == "leaky"
    assert {c["metric"] for c in summary["checks"] if c["verdict"] == "fail"} & {"tasks", "fds"}
    assert (out / "report.html").is_file() and (out / "latency.csv").is_file()
    assert no_reader_pods(kube, kube_ns) == [] or _gone_soon(kube, kube_ns)

    junit = junit_from_logs(kube, kube_ns, job)
    assert int(junit.get("failures") or sum(int(s.get("failures", 0)) for s in junit)) > 0
    only = tmp_path / "junit.xml"
    done = fetch(kube, "soak", "-n", kube_ns, "--junit-only", "--out", str(only))
    assert done.returncode == 0, done.stdout + done.stderr
    assert ET.parse(only).getroot().tag in ("testsuites", "testsuite")

    done = fetch(kube, "nope", "-n", kube_ns)
    assert done.returncode == 2 and "release 'nope'" in done.stderr, done.stderr


def _gone_soon(kube: Kube, ns: str) -> bool:
    """The reader pod was deleted with --wait=false: gone within 60 s (grace period 1 s)."""
    deadline = time.monotonic() + 60
    while no_reader_pods(kube, ns):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def test_fixed_job_completes_passes_and_helm_test_finds_its_report(kube: Kube, kube_ns: str,
                                                                    tmp_path: Path):
    """ci/fixed-values.yaml: the Job completes with PASS; `helm test` finds Toxiproxy, the
    sample and the run's summary.json; `harness fetch` copies the newest run folder."""
    install(kube, kube_ns, "-f", str(CHART / "ci" / "fixed-values.yaml"))
    job = harness_job(kube, kube_ns)
    assert wait_job(kube, kube_ns, job) == "Complete"
    logs = kube.run("kubectl", "-n", kube_ns, "logs", job).stdout
    assert re.search(r"^PASS: stalled_stream \[fixed\]", logs, re.M), logs[-3000:]

    tested = kube.run("helm", "test", "soak", "-n", kube_ns, "--logs", timeout=300)
    assert "ok   toxiproxy API" in tested.stdout, tested.stdout
    assert re.search(r"ok   newest run \S+: verdict PASS", tested.stdout), tested.stdout

    done = fetch(kube, "-n", kube_ns, "--out", str(tmp_path / "fixed"))  # the only release
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "fixed" / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["variant"] == "fixed"
    assert _gone_soon(kube, kube_ns)


def test_two_locust_worker_pods_merge_to_the_sum_of_their_counts(kube: Kube, kube_ns: str,
                                                                 tmp_path: Path):
    """ci/workers-values.yaml: the harness's master waits for 2 worker pods; the request
    count in the fetched latency.csv equals the sum of what each worker pod logged."""
    install(kube, kube_ns, "-f", str(CHART / "ci" / "workers-values.yaml"))
    job = harness_job(kube, kube_ns)
    assert wait_job(kube, kube_ns, job) == "Complete"
    pods = kube.run("kubectl", "-n", kube_ns, "get", "pods", "-l",
                    "app.kubernetes.io/component=locust-worker", "-o", "name").stdout.split()
    assert len(pods) == 2, pods
    counts = {}
    for pod in pods:
        log = kube.run("kubectl", "-n", kube_ns, "logs", pod).stdout
        found = WORKER_COUNT.findall(log)
        assert found, f"{pod} never said what it recorded:\n{log[-2000:]}"
        counts[pod] = int(found[-1][0])
    assert all(c > 0 for c in counts.values()), counts

    out = tmp_path / "workers"
    done = fetch(kube, "soak", "-n", kube_ns, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    merged = int(read_latency(out / "latency.csv").requests.sum())
    assert merged == sum(counts.values()), (merged, counts)
    ready = json.loads((out / ".locust-ready").read_text())
    assert ready["workers"] == 2, ready
    print(f"worker pods {counts} -> merged {merged}")
