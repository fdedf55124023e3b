"""``harness fetch``: copy a run folder out of the Helm chart's reports volume.

Runs on the user's (or CI's) machine with ``kubectl`` on PATH. It finds the release's
harness Job or CronJob (labels ``app.kubernetes.io/part-of=soak-harness``,
``app.kubernetes.io/component=harness``, ``app.kubernetes.io/instance=<release>``), reads
from its pod template the reports claim, the image and the security contexts, and starts a
short-lived reader pod with the same image and contexts that mounts the claim read-only. It
lists the run folders there (newest by ``run.json`` ``started_at``), streams one out with
``kubectl exec ... tar``, checks that its ``summary.json`` parses, and deletes the pod on
every exit path (an ``activeDeadlineSeconds`` ends it even if this process is SIGKILLed).

Resolving what to fetch (:func:`resolve_release`, :func:`reader_pod`, :func:`pick_run`) is
pure, over the JSON ``kubectl`` prints; :func:`fetch` drives ``kubectl``.

Errors: what the user named that is not there (release, run, ``--out``) is an
:class:`~harness.errors.InputError` (exit 2); no kubectl, no cluster, no claim, a reader pod
that does not start or a copy that fails is an :class:`~harness.errors.EnvironmentFailure`
(exit 3). A fetched run without a readable ``summary.json`` is a
:class:`~harness.errors.RunDirError` (exit 2) naming the folder, so ``harness report`` can
finish it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import EnvironmentFailure, InputError, RunDirError

PART_OF = "soak-harness"
REPORTS_VOLUME = "reports"  # the harness pod's volume holding the run folders
MOUNT = "/reports"
POD_DEADLINE_S = 900  # a reader pod left behind (fetch killed) ends by itself
READY_TIMEOUT_S = 120.0
KUBECTL_TIMEOUT_S = 60.0
NO_KUBECTL = ("kubectl: not found on PATH (harness fetch drives kubectl; install it and point "
              "it at the cluster: KUBECONFIG or --context)")

# Lists the run folders on the claim: name, started_at, status, verdict, and the nightly
# stability reports (history-*, kind "history"). python3 is in the harness image, which the
# reader pod runs.
LIST_SCRIPT = r"""
import json, os, sys
root = sys.argv[1]
out = []
for name in sorted(os.listdir(root)):
    def read(file):
        try:
            with open(os.path.join(root, name, file), encoding="utf-8") as fh:
                value = json.load(fh)
            return value if isinstance(value, dict) else None
        except (OSError, ValueError):
            return None
    run = read("run.json")
    if run is None:
        if name.startswith("history-") and read("stability.json") is not None:
            out.append({"name": name, "kind": "history", "started_at": None})
        continue
    summary = read("summary.json") or {}
    out.append({"name": name, "started_at": run.get("started_at"), "status": run.get("status"),
                "verdict": summary.get("verdict")})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class ReleaseInfo:
    """What the reader pod copies from the release's harness pod template."""

    release: str
    namespace: str
    claim: str
    image: str
    pull_policy: str | None = None
    pod_security: dict[str, Any] = field(default_factory=dict)
    container_security: dict[str, Any] = field(default_factory=dict)
    pull_secrets: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    affinity: dict[str, Any] = field(default_factory=dict)
    service_account: str | None = None


def _pod_template(item: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a Job or a CronJob (its jobTemplate)."""
    spec = item.get("spec", {})
    if item.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template", {}).get("spec", {}))


def _release_of(item: dict[str, Any]) -> str:
    labels = item.get("metadata", {}).get("labels", {}) or {}
    return str(labels.get("app.kubernetes.io/instance", ""))


def resolve_release(items: Sequence[dict[str, Any]], release: str | None,
                    namespace: str) -> ReleaseInfo:
    """The release to fetch from, out of the harness Jobs/CronJobs ``kubectl get`` listed.

    ``release`` None: the only release in the namespace (InputError naming them when there
    are several, or naming the namespace when there is none).
    """
    releases = sorted({_release_of(i) for i in items if _release_of(i)})
    if release is None:
        if not releases:
            raise InputError(
                f"no soak-harness release in namespace {namespace!r} (no Job or CronJob "
                f"labelled app.kubernetes.io/part-of={PART_OF}); give -n NAMESPACE")
        if len(releases) > 1:
            raise InputError(f"namespace {namespace!r} holds several soak-harness releases "
                             f"({', '.join(releases)}): name one")
        release = releases[0]
    mine = [i for i in items if _release_of(i) == release]
    if not mine:
        raise InputError(
            f"release {release!r}: no harness Job or CronJob in namespace {namespace!r}"
            + (f" (releases there: {', '.join(releases)})" if releases else ""))
    # a CronJob's template is the release's current one; else the newest Job
    mine.sort(key=lambda i: (i.get("kind") == "CronJob",
                             i.get("metadata", {}).get("creationTimestamp", "")))
    spec = _pod_template(mine[-1])
    volumes = {v.get("name"): v for v in spec.get("volumes", []) or []}
    volume = volumes.get(REPORTS_VOLUME)
    if volume is None:
        raise EnvironmentFailure(f"release {release!r}: its harness pod has no "
                                 f"{REPORTS_VOLUME!r} volume (not a soak-harness chart?)")
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if not claim:
        raise InputError(
            f"release {release!r} keeps its reports in an emptyDir "
            "(reports.persistence.enabled=false): they are gone with the pod; enable "
            "reports.persistence to fetch them")
    containers = spec.get("containers", []) or []
    harness = next((c for c in containers if c.get("name") == "harness"),
                   containers[0] if containers else {})
    if not harness.get("image"):
        raise EnvironmentFailure(f"release {release!r}: its harness container has no image")
    return ReleaseInfo(
        release=release, namespace=namespace, claim=str(claim), image=str(harness["image"]),
        pull_policy=harness.get("imagePullPolicy"),
        pod_security=dict(spec.get("securityContext") or {}),
        container_security=dict(harness.get("securityContext") or {}),
        pull_secrets=list(spec.get("imagePullSecrets") or []),
        node_selector=dict(spec.get("nodeSelector") or {}),
        tolerations=list(spec.get("tolerations") or []),
        affinity=dict(spec.get("affinity") or {}),
        service_account=spec.get("serviceAccountName"),
    )


def claim_node(pods: Sequence[dict[str, Any]], claim: str) -> str | None:
    """The node of a live pod that mounts ``claim`` (a ReadWriteOnce volume can only be
    mounted there too), or None."""
    for pod in pods:
        status = pod.get("status", {}).get("phase")
        node = pod.get("spec", {}).get("nodeName")
        if status not in ("Pending", "Running") or not node:
            continue
        for volume in pod.get("spec", {}).get("volumes", []) or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                return str(node)
    return None


def reader_pod(info: ReleaseInfo, name: str, node: str | None = None) -> dict[str, Any]:
    """The reader pod: the release's image and security contexts, the claim read-only,
    nothing else (no service account token, a deadline)."""
    container: dict[str, Any] = {
        "name": "reader", "image": info.image,
        "command": ["sleep", str(POD_DEADLINE_S)],
        "securityContext": info.container_security,
        "volumeMounts": [{"name": REPORTS_VOLUME, "mountPath": MOUNT, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}},
    }
    if info.pull_policy:
        container["imagePullPolicy"] = info.pull_policy
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": POD_DEADLINE_S,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 1,
        "securityContext": info.pod_security,
        "containers": [container],
        "volumes": [
            {"name": REPORTS_VOLUME,
             "persistentVolumeClaim": {"claimName": info.claim, "readOnly": True}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    for key, value in (("imagePullSecrets", info.pull_secrets),
                       ("nodeSelector", info.node_selector), ("tolerations", info.tolerations),
                       ("serviceAccountName", info.service_account)):
        if value:
            spec[key] = value
    affinity = dict(info.affinity)
    if node is not None:  # ReadWriteOnce: only where it is mounted already
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
    if affinity:
        spec["affinity"] = affinity
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": info.namespace, "labels": {
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/instance": info.release,
            "app.kubernetes.io/component": "fetch",
            "app.kubernetes.io/managed-by": "harness-fetch",
        }},
        "spec": spec,
    }


def pick_run(runs: Sequence[dict[str, Any]], name: str | None, claim: str) -> dict[str, Any]:
    """The folder to fetch: ``name`` (a run folder or a ``history-*`` stability report), or
    the newest run folder (``started_at``, then name)."""
    if name is not None:
        if "/" in name or name in ("", ".", ".."):
            raise InputError(f"--run {name!r}: a run folder's name, not a path")
        for run in runs:
            if run.get("name") == name:
                return dict(run)
        names = [str(r.get("name")) for r in _newest_first(runs)[:5]]
        reports = sorted((str(r.get("name")) for r in runs if r.get("kind") == "history"),
                         reverse=True)[:3]
        raise InputError(f"--run {name!r}: no such run folder on claim {claim!r}"
                         + (f" (newest: {', '.join(names)})" if names else " (no run folder)")
                         + (f" (stability reports: {', '.join(reports)})" if reports else ""))
    newest = _newest_first(runs)
    if not newest:
        raise EnvironmentFailure(f"no run folder on claim {claim!r} yet (has a harness Job "
                                 "run? `kubectl get jobs` shows them)")
    return dict(newest[0])


def _newest_first(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run folders (not stability reports), newest first."""
    return sorted((r for r in runs if r.get("kind") != "history"),
                  key=lambda r: (str(r.get("started_at") or ""), str(r.get("name"))),
                  reverse=True)


def default_out(run: str, junit_only: bool) -> Path:
    """``./<run>`` (or ``./junit.xml`` with --junit-only)."""
    return Path("junit.xml") if junit_only else Path(run)


# ---------------------------------------------------------------------------- kubectl
@dataclass
class Kubectl:
    """``kubectl`` with the namespace (and context) of every call."""

    namespace: str
    context: str | None = None
    binary: str = "kubectl"

    def argv(self, *args: str) -> list[str]:
        base = [self.binary, "--namespace", self.namespace]
        if self.context:
            base += ["--context", self.context]
        return [*base, *args]

    def run(self, *args: str, input: str | None = None, timeout: float = KUBECTL_TIMEOUT_S,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = self.argv(*args)
        try:
            done = subprocess.run(argv, input=input, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise EnvironmentFailure(NO_KUBECTL) from exc
        except subprocess.TimeoutExpired as exc:
            raise EnvironmentFailure(
                f"`{' '.join(argv)}` did not answer within {timeout:g}s "
                "(is the cluster reachable?)") from exc
        if check and done.returncode != 0:
            raise EnvironmentFailure(
                f"`{' '.join(argv)}` failed (exit {done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}")
        return done

    def json(self, *args: str) -> Any:
        out = self.run(*args, "-o", "json").stdout
        try:
            return json.loads(out)
        except ValueError as exc:
            raise EnvironmentFailure(f"kubectl {' '.join(args)}: not JSON: {out[:200]!r}") from exc


def current_namespace(context: str | None = None) -> str:
    """kubectl's current namespace (``default`` when the context names none)."""
    argv = ["kubectl", "config", "view", "--minify", "-o", "jsonpath={..namespace}"]
    if context:
        argv += ["--context", context]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S,
                              check=False)
    except FileNotFoundError as exc:
        raise EnvironmentFailure(NO_KUBECTL) from exc
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentFailure("`kubectl config view` did not answer") from exc
    if done.returncode != 0:
        raise EnvironmentFailure(f"kubectl has no usable configuration: {done.stderr.strip()}")
    return done.stdout.strip() or "default"


@dataclass
class Fetched:
    """What ``fetch`` copied."""

    run: str
    path: Path
    verdict: str
    claim: str
    release: str


def fetch(release: str | None, namespace: str, *, run: str | None = None,
          out: Path | None = None, junit_only: bool = False, context: str | None = None,
          ready_timeout: float = READY_TIMEOUT_S, log: Callable[[str], None] = print,
          ) -> Fetched:
    """Copy a run folder (or its junit.xml) from the release's reports claim to ``out``."""
    if shutil.which("kubectl") is None:
        raise EnvironmentFailure(NO_KUBECTL)
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())) \
            and not junit_only:
        raise InputError(f"--out {out}: exists and is not empty; not overwriting it")
    kube = Kubectl(namespace, context)
    selector = f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/component=harness"
    if release is not None:
        selector += f",app.kubernetes.io/instance={release}"
    items = kube.json("get", "jobs,cronjobs", "-l", selector).get("items", [])
    info = resolve_release(items, release, namespace)
    done = kube.run("get", "pvc", info.claim, check=False)
    if done.returncode != 0:
        raise EnvironmentFailure(f"release {info.release!r}: its reports claim {info.claim!r} "
                                 f"is not in namespace {namespace!r}: {done.stderr.strip()}")
    node = claim_node(kube.json("get", "pods").get("items", []), info.claim)
    pod = f"{info.release}-fetch-{secrets.token_hex(3)}"[-63:].lstrip("-")
    log(f"starting reader pod {pod} (claim {info.claim}, read-only)")
    try:
        kube.run("apply", "-f", "-", input=json.dumps(reader_pod(info, pod, node)))
        _wait_ready(kube, pod, ready_timeout)
        listing = kube.run("exec", pod, "--", "python3", "-c", LIST_SCRIPT, MOUNT).stdout
        try:
            runs = json.loads(listing)
        except ValueError as exc:
            raise EnvironmentFailure(f"listing {MOUNT} in {pod}: not JSON: "
                                     f"{listing[:200]!r}") from exc
        chosen = pick_run(runs, run, info.claim)
        name = str(chosen["name"])
        target = out if out is not None else default_out(name, junit_only)
        history = chosen.get("kind") == "history"
        if junit_only and history:
            raise InputError(f"--run {name}: a stability report has no junit.xml")
        if junit_only:
            _copy_junit(kube, pod, name, target)
        else:
            _copy_folder(kube, pod, name, target)
    finally:
        kube.run("delete", "pod", pod, "--ignore-not-found", "--wait=false",
                 "--grace-period=1", check=False)
    verdict = str(chosen.get("verdict") or "no verdict yet").upper()
    if history:
        verdict = "stability report"
    elif not junit_only:
        verdict = check_summary(target)
    return Fetched(run=name, path=target, verdict=verdict, claim=info.claim,
                   release=info.release)


def _wait_ready(kube: Kubectl, pod: str, timeout: float) -> None:
    done = kube.run("wait", "--for=condition=Ready", f"pod/{pod}", f"--timeout={timeout:g}s",
                    timeout=timeout + KUBECTL_TIMEOUT_S, check=False)
    if done.returncode == 0:
        return
    why = done.stderr.strip()
    try:
        status = kube.json("get", "pod", pod).get("status", {})
        waiting = [c.get("state", {}).get("waiting") for c in
                   status.get("containerStatuses", []) or []]
        reasons = [f"{w.get('reason')}: {w.get('message', '')}".strip() for w in waiting if w]
        conditions = [f"{c.get('reason')}: {c.get('message')}" for c in
                      status.get("conditions", []) or [] if c.get("message")]
        why = "; ".join([f"phase {status.get('phase')}", *reasons, *conditions]) or why
    except EnvironmentFailure:
        pass  # the wait's own message stands
    raise EnvironmentFailure(f"reader pod {pod} was not ready within {timeout:g}s ({why})")


def _copy_folder(kube: Kubectl, pod: str, name: str, target: Path) -> None:
    """``tar`` the run folder in the pod, unpack it here as ``target`` (safely: no links out,
    no absolute paths), via a temporary sibling renamed at the end."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.fetching-{secrets.token_hex(3)}"
    staging.mkdir()
    argv = kube.argv("exec", pod, "--", "tar", "-C", MOUNT, "-cf", "-", name)
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    tar.extractall(staging, filter="data")
            except tarfile.TarError as exc:
                proc.kill()
                raise EnvironmentFailure(f"copying {name} out of {pod}: {exc}; "
                                         f"{proc.stderr.read().decode(errors='replace')}") from exc
            err = proc.stderr.read().decode(errors="replace")
            if proc.wait() != 0:
                raise EnvironmentFailure(f"copying {name} out of {pod} failed "
                                         f"(exit {proc.returncode}): {err.strip()}")
        if target.exists():
            target.rmdir()  # empty (checked before): replaced by the fetched folder
        os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_junit(kube: Kubectl, pod: str, name: str, target: Path) -> None:
    done = kube.run("exec", pod, "--", "cat", f"{MOUNT}/{name}/junit.xml", check=False)
    if done.returncode != 0:
        raise RunDirError(f"{name}: no junit.xml on the claim yet (the run is still going or "
                          f"was killed): {done.stderr.strip()}")
    try:
        ET.fromstring(done.stdout)
    except ET.ParseError as exc:
        raise RunDirError(f"{name}/junit.xml: not XML ({exc})") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(done.stdout, encoding="utf-8")


def check_summary(run_dir: Path) -> str:
    """The verdict of a fetched run folder as the CLI names it (PASS, FAIL...); RunDirError
    when its summary.json is missing or does not parse."""
    from pydantic import ValidationError

    from harness.verdicts import Summary, verdict_label

    path = run_dir / "summary.json"
    try:
        return verdict_label(Summary.model_validate_json(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise RunDirError(f"{run_dir}: fetched, but it has no summary.json (the run is still "
                          f"going or was killed): `harness report {run_dir}` writes it from "
                          "its data") from None
    except (OSError, ValueError, ValidationError) as exc:
        raise RunDirError(f"{path}: fetched, but it does not parse ({exc})") from exc


__all__ = [
    "LIST_SCRIPT",
    "PART_OF",
    "Fetched",
    "Kubectl",
    "ReleaseInfo",
    "check_summary",
    "claim_node",
    "current_namespace",
    "default_out",
    "fetch",
    "pick_run",
    "reader_pod",
    "resolve_release",
]
