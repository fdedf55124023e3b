"""The compose path on a real Docker engine: images built here, containers, stats, faults.

``scripts/docker-engine.sh up`` brings the engine, Compose v2 and the images up when they are
missing (``make setup-test`` has usually done it: then it takes seconds); the tests skip,
saying why, only when that fails. Every test uses its own compose project, runs alone (one
xdist group, and a lock file: the stack publishes fixed loopback ports), and checks that no
container, network or volume is left behind. Traffic stays between the project's
containers and ports published on 127.0.0.1.
"""

from __future__ import annotations

import csv
import fcntl
import itertools
import json
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("docker-engine"),
              pytest.mark.timeout(900)]

STATE = Path(os.environ.get("HARNESS_DOCKER_STATE") or REPO / ".tools" / "docker")
ENGINE_SCRIPT = REPO / "scripts" / "docker-engine.sh"
PROJECT_LABEL = "com.docker.compose.project"
DOCKER_STATS = ("pids", "memory", "cpu")


def docker(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """The docker CLI, output captured; a failure shows its output."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} -> {done.returncode}\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _images_env() -> dict[str, str]:
    path = STATE / "images.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def engine_env() -> Iterator[dict[str, str]]:
    """Environment that reaches a working engine and names the images to build from.

    An engine this fixture had to start (none answered: pytest run by hand) is stopped at
    the end of the session; one that was already up (``make test``) is left to its owner.
    """
    started_here = not _engine_answers()
    try:
        up = subprocess.run([str(ENGINE_SCRIPT), "up"], capture_output=True, text=True,
                            timeout=1500, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no Docker engine could be brought up: {exc}")
    if up.returncode != 0:
        pytest.skip("no Docker engine could be brought up (scripts/docker-engine.sh up):\n"
                    + up.stderr[-1500:])
    try:
        env = {**os.environ, **_images_env(),
               "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid)
               if os.path.exists("/var/run/docker.sock") else "0"}
        env.pop("HARNESS_VARIANT", None)
        # one image build for the session (cold: a few minutes; warm: the layer cache)
        docker("compose", "-p", "soak-e2e-build", "build", "healthy", env=env, timeout=1200)
        yield env
    finally:
        if started_here:
            subprocess.run([str(ENGINE_SCRIPT), "stop"], capture_output=True, timeout=120,
                           cwd=REPO)


@pytest.fixture
def engine_lock() -> Iterator[None]:
    """Compose tests publish fixed loopback ports: one at a time, across xdist workers."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "e2e.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _engine_objects() -> dict[str, set[str]]:
    return {
        "containers": set(docker("ps", "-aq").stdout.split()),
        "networks": set(docker("network", "ls", "-q").stdout.split()),
        "volumes": set(docker("volume", "ls", "-q").stdout.split()),
    }


def _project_objects(project: str) -> dict[str, list[str]]:
    flt = f"label={PROJECT_LABEL}={project}"
    return {
        "containers": docker("ps", "-aq", "--filter", flt).stdout.split(),
        "networks": docker("network", "ls", "-q", "--filter", flt).stdout.split(),
        "volumes": docker("volume", "ls", "-q", "--filter", flt).stdout.split(),
    }


@pytest.fixture
def project(request: pytest.FixtureRequest, engine_env: dict[str, str],
            engine_lock: None) -> Iterator[tuple[str, dict[str, str]]]:
    """A compose project of its own; the test must leave nothing of it behind.

    The check runs before the cleanup (which only removes what a failed test left).
    """
    name = "soak-e2e-" + request.node.name.split("[")[0].removeprefix("test_")[:30]
    name = name.replace("_", "-").lower()
    before = _engine_objects()
    env = {**engine_env, "HARNESS_COMPOSE_PROJECT": name}
    try:
        yield name, env
        left = _project_objects(name)
        after = _engine_objects()
        new = {kind: sorted(after[kind] - before[kind]) for kind in after}
        assert not any(left.values()), f"project {name} left behind: {left}"
        assert not any(new.values()), f"new engine objects left behind: {new}"
    finally:
        docker("compose", "-p", name, "--profile", "gateway", "down", "--volumes",
               "--remove-orphans", "--timeout", "5", env=env, timeout=180, check=False)


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def _story(summary: dict) -> str:
    return "\n".join(f"{c['name']}: {c['verdict']}: {c.get('detail')}"
                     for c in summary["checks"])


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _docker_rows(run_dir: Path) -> dict[tuple[str, str], list[float]]:
    rows: dict[tuple[str, str], list[float]] = defaultdict(list)
    with open(run_dir / "samples.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            rows[(row["target"], row["metric"])].append(float(row["t"]))
    return rows


# ---------------------------------------------------------------------------- stats


def test_container_stats_keep_a_one_second_tick_for_five_containers(
        project: tuple[str, dict[str, str]], tmp_path: Path):
    """The sampler gets pids, memory and cpu of 5 containers at every tick, ticks <= 1.2 s apart."""
    from harness.backends import ContainerStats, DockerEngine, DockerStatSource, TargetHandle
    from harness.metrics.sampler import Sampler

    name, env = project
    services = ["toxiproxy", "healthy", "upstream", "gateway", "master"]
    docker("compose", "-p", name, "up", "-d", "--wait", *services, env=env, timeout=300)
    engine = DockerEngine.from_env()
    streams: list[ContainerStats] = []
    sampler = Sampler(tmp_path, time.time(), 1.0)
    try:
        handles = []
        for service in services:
            stats = ContainerStats(engine, engine.service_container(name, service)).start()
            streams.append(stats)
            handles.append(TargetHandle(name=service, sources={
                s: DockerStatSource(stats, s) for s in DOCKER_STATS}))
        time.sleep(3)  # the first payload of each stream (cpu needs two)
        sampler.add(handles)
        sampler.start()
        time.sleep(60)
    finally:
        sampler.stop()
        for stats in streams:
            stats.close()
        engine.close()
        docker("compose", "-p", name, "--profile", "gateway", "down", "--volumes", "--timeout", "5",
               env=env, timeout=180)
    rows = _docker_rows(tmp_path)
    assert sampler.ticks >= 59
    worst = 0.0
    for service in services:
        for stat in DOCKER_STATS:
            times = rows[(service, stat)]
            assert len(times) >= sampler.ticks - 1, (service, stat, len(times), sampler.ticks)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            worst = max(worst, *gaps)
    print(f"ticks={sampler.ticks} worst spacing={worst:.3f}s")
    assert worst <= 1.2


# ---------------------------------------------------------------------------- harness runs


def test_smoke_scenario_passes_under_compose(project: tuple[str, dict[str, str]],
                                             tmp_path: Path):
    """`harness run scenarios/smoke.yaml --backend compose` exits 0 with docker stats every second."""
    _, env = project
    out = tmp_path / "run"
    started = time.monotonic()
    result = run_cli("run", "scenarios/smoke.yaml", "--backend", "compose", "--out", str(out),
                     "-q", env=env, timeout=400)
    summary = _summary(out)
    print(f"smoke under compose: {time.monotonic() - started:.0f}s, exit {result.returncode}")
    assert result.returncode == 0, _story(summary) + result.stderr[-3000:]
    assert summary["verdict"] == "pass"
    rows = _docker_rows(out)
    threads = rows[("api", "threads")]  # docker:pids of the sample's container
    assert len(threads) >= 30, len(threads)
    assert max(b - a for a, b in itertools.pairwise(threads)) <= 1.5
    kinds = {e["kind"] for e in _events(out)}
    assert {"compose_up", "target_attached"} <= kinds


@pytest.mark.parametrize("variant", ["leaky", "fixed"])
def test_gateway_pair_under_compose(variant: str, project: tuple[str, dict[str, str]],
                                    tmp_path: Path):
    """client_per_request in the gateway profile: leaky exits 1 on fds, fixed exits 0."""
    _, env = project
    out = tmp_path / "run"
    started = time.monotonic()
    result = run_cli("run", "scenarios/client_per_request.yaml", "--backend", "compose",
                     "--variant", variant, "--duration-scale", "0.6", "--out", str(out), "-q",
                     env=env, timeout=400)
    summary = _summary(out)
    story = _story(summary)
    print(f"client_per_request {variant} under compose: {time.monotonic() - started:.0f}s, "
          f"exit {result.returncode}\n{story}")
    assert summary["status"] == "completed", story + result.stderr[-3000:]
    up = next(e for e in _events(out) if e["kind"] == "compose_up")
    assert set(up["services"]) >= {"gateway", "upstream"}
    failed = {c["metric"] for c in summary["checks"] if c["verdict"] in ("fail", "error")}
    if variant == "leaky":
        assert result.returncode == 1, story
        assert "fds" in failed, story
    else:
        assert result.returncode == 0, story
        assert not failed, story


FAULTS_SCENARIO = """
name: container-faults
description: the api's container paused for a phase, then killed and started again
target: {name: api, sample: healthy}
proxies: [{name: front, upstream: api}]
load: {user: HttpApiUser, users: 5, spawn_rate: 5, options: {path: /api/item/1}}
phases:
  - {name: warmup, duration: 8s}
  - name: paused
    duration: 6s
    container_faults: [{target: api, action: pause}]
  - {name: between, duration: 6s}
  - name: killed
    duration: 6s
    container_faults: [{target: api, action: kill, signal: SIGKILL}]
  - {name: recovery, duration: 8s}
thresholds:
  p99_ms: {max: 1000, phases: [warmup, paused, between, killed, recovery]}
"""


def test_container_kill_and_pause_are_phase_faults(project: tuple[str, dict[str, str]],
                                                   tmp_path: Path):
    """Pause and kill of the api's container happen in their phases and show in verdict and report."""
    _, env = project
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(FAULTS_SCENARIO)
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--backend", "compose", "--out", str(out), "-q",
                     env=env, timeout=400)
    summary = _summary(out)
    story = _story(summary)
    print(story)
    assert summary["status"] == "completed", story + result.stderr[-3000:]
    # requests stall while the container is paused or dead and complete seconds later (or
    # fail) once it is back: the window they complete in is the fault's phase or the next
    # one, so each fault must fail (or leave without requests: error) one of the two
    assert result.returncode == 1, story
    p99 = {c["name"]: c["verdict"] for c in summary["checks"] if c["metric"] == "p99_ms"}
    assert p99["p99_ms[warmup]"] == "pass", story
    for fault_phase, next_phase in (("paused", "between"), ("killed", "recovery")):
        assert {p99[f"p99_ms[{fault_phase}]"], p99[f"p99_ms[{next_phase}]"]} & {"fail", "error"}, \
            story
    slow = [float(row["p99_ms"]) for row in csv.DictReader(
            (out / "latency.csv").read_text().splitlines())
            if row["p99_ms"] and float(row["p99_ms"]) > 4000]
    assert len(slow) >= 2, "no multi-second requests after the pause and the kill"
    faults = [(e["kind"], e.get("type"), e.get("phase")) for e in _events(out)
              if e["kind"] in ("fault_added", "fault_removed")]
    assert faults == [("fault_added", "pause", "paused"), ("fault_removed", "pause", "paused"),
                      ("fault_added", "kill", "killed"), ("fault_removed", "kill", "killed")]
    report = (out / "report.md").read_text()
    assert "pause" in report and "kill" in report
    # the killed container was started again: the recovery phase has its docker stats (a
    # new stats stream) and its /metrics (read on the container's new published port)
    recovery_start = next(e["t"] for e in _events(out)
                          if e["kind"] == "phase_start" and e.get("phase") == "recovery")
    rows = _docker_rows(out)
    for metric in ("threads", "fds"):
        late = [t for t in rows[("api", metric)] if t > recovery_start + 2]
        assert len(late) >= 4, (metric, late)


def test_compose_up_runner_to_a_verdict(project: tuple[str, dict[str, str]], tmp_path: Path):
    """`docker compose up --build --exit-code-from runner` soaks the demo stack to a verdict."""
    name, env = project
    reports = tmp_path / "reports"
    reports.mkdir(mode=0o755)
    reports.chmod(0o755)  # root's, 755: what a fresh checkout's ./reports is
    env = {**env, "HARNESS_REPORTS_DIR": str(reports)}
    started = time.monotonic()
    done = docker("compose", "-p", name, "up", "--build", "--exit-code-from", "runner",
                  env=env, timeout=600, check=False)
    elapsed = time.monotonic() - started
    down = docker("compose", "-p", name, "down", "--volumes", "--remove-orphans",
                  "--timeout", "5", env=env, timeout=180, check=False)
    runs = sorted((reports / "compose").glob("smoke-*"))
    print(f"compose up --exit-code-from runner: {elapsed:.0f}s, exit {done.returncode}")
    assert runs, done.stdout[-4000:] + done.stderr[-2000:]
    summary = _summary(runs[-1])
    assert done.returncode == 0, _story(summary) + done.stdout[-4000:]
    assert summary["verdict"] == "pass", _story(summary)
    assert (reports.stat().st_uid, oct(reports.stat().st_mode & 0o777)) == (0, "0o755")
    assert down.returncode == 0, down.stderr
