"""The Kubernetes e2e suite's cluster: a real one, local or the user's.

Interface (kept stable: the chart tests build on it)

- ``kube`` (session): the cluster.

  - ``kube.env``: ``os.environ`` + ``KUBECONFIG`` + ``PATH`` with ``kubectl`` and ``helm``
    first.
  - ``kube.run(*args, timeout=120, check=True, input=None)`` ->
    ``subprocess.CompletedProcess[str]``: runs ``args`` (``"kubectl", ...``, ``"helm", ...``
    or anything else) with that env from the repository root, output captured as text; with
    ``check`` a non-zero exit raises ``AssertionError`` carrying the command, stdout and stderr.
  - ``kube.image``: the harness image reference the cluster can run (the chart's default
    ``image.repository:tag``, imported into the local cluster; ``HARNESS_KUBE_IMAGE``
    overrides it for a cluster of your own), and ``kube.image_args``: the ``--set`` arguments
    that make a chart use it.
  - ``kube.kubeconfig`` (Path), ``kube.local`` (True: the cluster of
    ``scripts/kube-cluster.sh``), ``kube.chart`` (Path of charts/soak-harness).

- ``kube_ns`` (function): a fresh namespace for the test (its name), deleted afterwards
  (waiting until it is gone, then the local cluster's released volumes are recycled). When
  the test failed, its pods' logs, ``kubectl get all,pvc,configmap`` and the namespace's
  events are added to the failure's report (a section "namespace NAME").

Which cluster: when ``KUBECONFIG`` is set (and is not the local cluster's own), that one
(kind, minikube, a real cluster: nothing is brought up or stopped; load the harness image
into it yourself and name it with ``HARNESS_KUBE_IMAGE``). Otherwise the local one:
``make test`` brings it up before pytest (``scripts/kube-cluster.sh up`` and ``images``) and
stops it afterwards; run by hand, this fixture brings up what does not run yet (the cluster,
a Docker engine for the images) and stops at the end of the session what it started.

Every test in this directory runs in one xdist group ("kube", ``--dist loadgroup``): one
worker, one session fixture, tests one after the other on the one node.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

HERE = Path(__file__).resolve().parent
SCRIPT = REPO / "scripts" / "kube-cluster.sh"
ENGINE_SCRIPT = REPO / "scripts" / "docker-engine.sh"
CHART = REPO / "charts" / "soak-harness"
TOOLS = Path(os.environ.get("HARNESS_TOOLS_DIR") or REPO / ".tools")
# a cold `up` builds Kubernetes from source: ~15 min on 2 cores, up to the session's timeout
UP_TIMEOUT = 2400


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/kube: marked e2e, in the "kube" xdist group, a kube timeout."""
    for item in items:
        if HERE not in Path(str(item.path)).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("kube"))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(900))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """A failed test using kube_ns gets its namespace's pods, logs and events in its report."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    if report.when == "call" and report.failed and "kube_ns" in funcargs:
        try:
            dump = _dump_namespace(funcargs["kube"], funcargs["kube_ns"])
        except AssertionError as exc:  # the cluster itself may be what failed
            dump = f"could not dump the namespace: {exc}"
        report.sections.append((f"namespace {funcargs['kube_ns']}", dump))
    return report


@dataclass
class Kube:
    """A reachable cluster and the tools to drive it (see the module docstring)."""

    kubeconfig: Path
    env: dict[str, str]
    image: str
    local: bool
    chart: Path = CHART
    image_args: tuple[str, ...] = field(default=())

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ARGS with the cluster's env; with check, a failure raises with its output."""
        try:
            done = subprocess.run(list(args), env=self.env, cwd=REPO, capture_output=True,
                                  text=True, timeout=timeout, input=input)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{' '.join(args)}: no answer within {timeout} s\n"
                                 f"stdout: {_text(exc.stdout)[-3000:]}\n"
                                 f"stderr: {_text(exc.stderr)[-3000:]}") from exc
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> exit {done.returncode}\n"
                                 f"stdout: {done.stdout[-4000:]}\nstderr: {done.stderr[-4000:]}")
        return done


def _text(out: str | bytes | None) -> str:
    if out is None:
        return ""
    return out.decode(errors="replace") if isinstance(out, bytes) else out


def chart_default_image() -> str:
    """``image.repository:tag`` of the chart's default values (tag "" = the appVersion)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return f"{values['image']['repository']}:{values['image']['tag'] or chart['appVersion']}"


def _script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _answers(env: dict[str, str]) -> bool:
    try:
        return subprocess.run(["kubectl", "get", "--raw", "/readyz"], env=env,
                              capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _tool_path(local_kubectl: Path | None) -> str:
    dirs = [str(TOOLS / "bin"), str(REPO / ".tools" / "bin")]
    if local_kubectl is not None:
        dirs.insert(0, str(local_kubectl.parent))
    dirs.append(str(Path(sys.executable).parent))
    return os.pathsep.join([*dirs, os.environ.get("PATH", "")])


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    """The cluster (the user's KUBECONFIG, else the local one, brought up when needed)."""
    image = os.environ.get("HARNESS_KUBE_IMAGE") or chart_default_image()
    repo_, _, tag = image.rpartition(":")
    image_args = ("--set", f"image.repository={repo_}", "--set", f"image.tag={tag}")
    local_config = Path(_script("kubeconfig").stdout.strip())
    user_config = os.environ.get("KUBECONFIG")
    if user_config and Path(user_config).resolve() != local_config.resolve():
        kubeconfig = Path(user_config)
        kubectl = shutil.which("kubectl")
        env = {**os.environ, "PATH": _tool_path(Path(kubectl) if kubectl else None)}
        if not _answers(env):
            pytest.fail(f"KUBECONFIG={kubeconfig} is set but its cluster does not answer "
                        "`kubectl get --raw /readyz`")
        yield Kube(kubeconfig, env, image, local=False, image_args=image_args)
        return
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the local cluster needs Linux and root (or set KUBECONFIG to a cluster)")
    kubeconfig = local_config
    version = re.search(r'^KUBE_VERSION="\$\{KUBE_VERSION:-(v[0-9.]+)\}"', SCRIPT.read_text(), re.M)
    assert version, "KUBE_VERSION not found in scripts/kube-cluster.sh"
    kubectl = TOOLS / "kube" / version.group(1) / "bin" / "kubectl"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": _tool_path(kubectl)}
    cluster_here = not (kubeconfig.exists() and kubectl.exists() and _answers(env))
    engine_here = False
    try:
        up = _script("up", timeout=UP_TIMEOUT)
        assert up.returncode == 0, f"scripts/kube-cluster.sh up failed:\n{up.stderr[-4000:]}"
        engine_here = not _engine_answers()
        if engine_here:
            engine = subprocess.run([str(ENGINE_SCRIPT), "up"], cwd=REPO, capture_output=True,
                                    text=True, timeout=1800)
            assert engine.returncode == 0, f"docker-engine.sh up failed:\n{engine.stderr[-3000:]}"
        images = _script("images", timeout=1800)
        assert images.returncode == 0, f"kube-cluster.sh images failed:\n{images.stderr[-4000:]}"
        yield Kube(kubeconfig, env, image, local=True, image_args=image_args)
    finally:
        if engine_here:
            subprocess.run([str(ENGINE_SCRIPT), "stop"], cwd=REPO, capture_output=True,
                           timeout=120)
        if cluster_here:
            _script("stop", timeout=300)


def _dump_namespace(kube: Kube, ns: str) -> str:
    """What a failed test's namespace holds: objects, events, every pod's logs."""
    parts = []
    for args in (("get", "all,pvc,configmap", "-o", "wide"),
                 ("get", "events", "--sort-by=.lastTimestamp")):
        done = kube.run("kubectl", "-n", ns, *args, check=False, timeout=60)
        parts.append(f"$ kubectl -n {ns} {' '.join(args)}\n{done.stdout}{done.stderr}")
    pods = kube.run("kubectl", "-n", ns, "get", "pods", "-o", "name", check=False).stdout.split()
    for pod in pods:
        done = kube.run("kubectl", "-n", ns, "logs", pod, "--all-containers", "--prefix",
                        "--tail", "200", check=False, timeout=60)
        parts.append(f"$ kubectl -n {ns} logs {pod}\n{done.stdout}{done.stderr}")
        phase = kube.run("kubectl", "-n", ns, "get", pod, "-o", "jsonpath={.status.phase}",
                         check=False).stdout
        if phase not in ("Running", "Succeeded"):
            done = kube.run("kubectl", "-n", ns, "describe", pod, check=False, timeout=60)
            parts.append(f"$ kubectl -n {ns} describe {pod}\n{done.stdout[-4000:]}")
    return "\n".join(parts)


@pytest.fixture
def kube_ns(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted (and waited for) afterwards."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    ns = f"t-{stem}-{secrets.token_hex(3)}"
    kube.run("kubectl", "create", "namespace", ns)
    try:
        kube.run("kubectl", "label", "namespace", ns, "soak-harness.dev/e2e=true")
        # pods are refused until the namespace's default service account exists (the
        # controller-manager makes it within a second or two; 60 s for a loaded machine)
        deadline = time.monotonic() + 60
        while kube.run("kubectl", "-n", ns, "get", "serviceaccount", "default",
                       check=False).returncode != 0:
            assert time.monotonic() < deadline, f"no default service account in {ns} after 60 s"
            time.sleep(0.5)
        yield ns
    finally:
        kube.run("kubectl", "delete", "namespace", ns, "--wait=true", "--timeout=300s",
                 timeout=330)
        if kube.local:
            _script("recycle-volumes", timeout=120)
