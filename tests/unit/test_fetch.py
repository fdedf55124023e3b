"""``harness fetch``: which release, claim, reader pod and run folder it picks (pure logic over
the JSON kubectl prints), its summary check, and its errors when kubectl is missing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.cli import main
from harness.errors import EnvironmentFailure, InputError, RunDirError
from harness.fetch import (
    check_summary,
    claim_node,
    pick_run,
    reader_pod,
    resolve_release,
)
from harness.testing import SyntheticRun, synthetic_summary

POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                      "capabilities": {"drop": ["ALL"]}}


def job(release: str, claim: str | None = "soak-soak-harness-reports", kind: str = "Job",
        created: str = "2026-11-26T00:00:00Z") -> dict[str, Any]:
    """A harness Job (or CronJob) as `kubectl get -o json` lists it."""
    volume: dict[str, Any] = ({"name": "reports", "persistentVolumeClaim": {"claimName": claim}}
                              if claim else {"name": "reports", "emptyDir": {}})
    pod = {"spec": {
        "securityContext": POD_SECURITY,
        "imagePullSecrets": [{"name": "regcred"}],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "soak", "operator": "Exists"}],
        "serviceAccountName": f"{release}-soak-harness",
        "containers": [{"name": "harness", "image": "soak-harness:0.1.0",
                        "imagePullPolicy": "Never", "securityContext": CONTAINER_SECURITY}],
        "volumes": [{"name": "scenario", "configMap": {"name": "x"}}, volume],
    }}
    spec: dict[str, Any] = {"template": pod}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": spec}}
    return {"kind": kind, "spec": spec, "metadata": {
        "name": f"{release}-run", "creationTimestamp": created,
        "labels": {"app.kubernetes.io/instance": release}}}


def test_the_only_release_is_picked_with_its_claim_image_and_security_contexts():
    """No release named: the namespace's only one; claim, image and contexts from its pod."""
    info = resolve_release([job("soak")], None, "ci")
    assert (info.release, info.namespace, info.claim) == ("soak", "ci", "soak-soak-harness-reports")
    assert info.image == "soak-harness:0.1.0" and info.pull_policy == "Never"
    assert info.pod_security == POD_SECURITY and info.container_security == CONTAINER_SECURITY
    assert info.pull_secrets == [{"name": "regcred"}]
    assert info.service_account == "soak-soak-harness"


def test_several_releases_must_be_named_and_a_wrong_name_lists_them():
    """Two releases and none named, or a name that is not there: exit 2 naming them."""
    items = [job("a"), job("b")]
    with pytest.raises(InputError, match=r"several soak-harness releases \(a, b\)"):
        resolve_release(items, None, "ci")
    with pytest.raises(InputError, match=r"release 'c'.*releases there: a, b"):
        resolve_release(items, "c", "ci")
    assert resolve_release(items, "b", "ci").release == "b"


def test_no_release_in_the_namespace_names_the_namespace():
    """Nothing labelled part-of=soak-harness: the error names the namespace and -n."""
    with pytest.raises(InputError, match=r"no soak-harness release in namespace 'x'.*-n"):
        resolve_release([], None, "x")


def test_an_existing_claim_is_used_and_the_cronjob_template_wins_over_old_jobs():
    """The CronJob's template (the release's current one) decides, whatever the Jobs say."""
    items = [job("soak", "old-claim", created="2026-11-27T00:00:00Z"),
             job("soak", "team-reports", kind="CronJob", created="2026-11-01T00:00:00Z")]
    assert resolve_release(items, "soak", "ci").claim == "team-reports"
    newer = [job("soak", "first"), job("soak", "second", created="2026-11-27T00:00:00Z")]
    assert resolve_release(newer, "soak", "ci").claim == "second"


def test_reports_in_an_emptydir_cannot_be_fetched_and_say_why():
    """reports.persistence off: exit 2 that names the value to turn on."""
    with pytest.raises(InputError, match=r"emptyDir.*reports\.persistence"):
        resolve_release([job("soak", None)], "soak", "ci")


def test_reader_pod_mounts_the_claim_read_only_with_the_releases_contexts():
    """The reader pod: same image and contexts, claim read-only, no token, a deadline."""
    info = resolve_release([job("soak")], "soak", "ci")
    pod = reader_pod(info, "soak-fetch-abc")
    spec = pod["spec"]
    assert pod["metadata"]["name"] == "soak-fetch-abc" and pod["metadata"]["namespace"] == "ci"
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "fetch"
    assert spec["securityContext"] == POD_SECURITY
    (container,) = spec["containers"]
    assert container["securityContext"] == CONTAINER_SECURITY
    assert container["image"] == "soak-harness:0.1.0"
    reports = next(v for v in spec["volumes"] if v["name"] == "reports")
    assert reports["persistentVolumeClaim"] == {"claimName": "soak-soak-harness-reports",
                                                "readOnly": True}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "reports")
    assert mount["readOnly"] is True
    assert spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] > 0 and spec["restartPolicy"] == "Never"
    assert spec["nodeSelector"] == {"disk": "ssd"} and spec["imagePullSecrets"]
    assert "affinity" not in spec


def test_reader_pod_goes_where_a_live_pod_mounts_the_claim():
    """ReadWriteOnce: a running harness pod holds the claim on node-2, so the reader goes
    there too; finished pods do not count."""
    def pod(phase: str, node: str, claim: str) -> dict[str, Any]:
        return {"status": {"phase": phase}, "spec": {"nodeName": node, "volumes": [
            {"name": "reports", "persistentVolumeClaim": {"claimName": claim}}]}}

    pods = [pod("Succeeded", "node-1", "c"), pod("Running", "node-3", "other"),
            pod("Running", "node-2", "c")]
    assert claim_node(pods, "c") == "node-2"
    assert claim_node(pods[:2], "c") is None
    info = resolve_release([job("soak", "c")], "soak", "ci")
    terms = reader_pod(info, "p", "node-2")["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["node-2"]}]}]


RUNS = [
    {"name": "smoke-20261125T020000Z", "started_at": "2026-11-25T02:00:00+00:00", "verdict": "pass"},
    {"name": "leaky-run-1", "started_at": "2026-11-26T01:00:00+00:00", "verdict": "fail"},
    {"name": "running", "started_at": None, "verdict": None},
    {"name": "history-20261126T020500Z", "kind": "history", "started_at": None},
]


def test_newest_run_by_start_time_or_the_named_one():
    """Default: the newest by started_at (not by name); --run picks that folder."""
    assert pick_run(RUNS, None, "c")["name"] == "leaky-run-1"
    assert pick_run(RUNS, "smoke-20261125T020000Z", "c")["verdict"] == "pass"
    assert pick_run(RUNS, "history-20261126T020500Z", "c")["kind"] == "history"
    assert pick_run(RUNS[-1:], "history-20261126T020500Z", "c")["name"].startswith("history-")


def test_a_missing_or_path_like_run_name_is_refused_naming_the_newest():
    """--run that is not there lists the newest folders; a path is never a run name."""
    with pytest.raises(InputError, match=r"--run 'nope'.*newest: leaky-run-1, smoke-.*"
                                         r"stability reports: history-20261126T020500Z"):
        pick_run(RUNS, "nope", "c")
    for bad in ("../etc", "a/b", ".."):
        with pytest.raises(InputError, match="not a path"):
            pick_run(RUNS, bad, "c")
    with pytest.raises(EnvironmentFailure, match="no run folder on claim 'c'"):
        pick_run([], None, "c")
    with pytest.raises(EnvironmentFailure, match="no run folder"):  # only stability reports
        pick_run(RUNS[-1:], None, "c")


def test_summary_check_reads_the_verdict_and_refuses_a_missing_or_broken_one(tmp_path):
    """A fetched folder: its verdict label; no summary.json or a broken one: exit 2."""
    summary = synthetic_summary(SyntheticRun())
    (tmp_path / "summary.json").write_text(summary.model_dump_json(), encoding="utf-8")
    assert check_summary(tmp_path) in ("PASS", "FAIL", "INCONCLUSIVE", "ERROR")
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(RunDirError, match=r"no summary\.json.*harness report"):
        check_summary(broken)
    (broken / "summary.json").write_text('{"verdict": 3', encoding="utf-8")
    with pytest.raises(RunDirError, match="does not parse"):
        check_summary(broken)


def test_fetch_without_kubectl_exits_3_and_says_so(monkeypatch, tmp_path, capsys):
    """No kubectl on PATH: exit 3 with a message that names kubectl."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["fetch", "soak", "-n", "ci"]) == 3
    assert "kubectl: not found on PATH" in capsys.readouterr().err


def test_fetch_refuses_an_out_folder_that_holds_files(monkeypatch, tmp_path, capsys):
    """--out that exists with files in it: exit 2, nothing overwritten (before kubectl)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    kubectl = fake / "kubectl"
    kubectl.write_text("#!/bin/sh\nexit 0\n")
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["fetch", "soak", "-n", "ci", "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_resolving_never_changes_what_kubectl_listed():
    """resolve_release and reader_pod leave the listed objects as they were."""
    item = job("soak")
    before = copy.deepcopy(item)
    reader_pod(resolve_release([item], "soak", "ci"), "p", "n")
    assert item == before
