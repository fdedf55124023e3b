"""Faults in the run's own parts, with real processes: SIGSTOP / SIGKILL of toxiproxy-server,
of Locust and of the target mid-run (our sample, and Debian's nginx as a third-party target).
Each gets the right verdict and exit code, a written report and no process left; a broken tool
is never blamed on the target."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, processes_with_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# Small on purpose: the fault lands ~2 s into steady; a frozen tool is noticed 10 s later
# (the watchdog's limit), so every case ends within ~30 s.
SCENARIO = """\
name: tool-faults
target: {name: api, sample: healthy}
proxies: [{name: front, upstream: api}]
load: {user: HttpApiUser, users: 5, spawn_rate: 5, options: {path: /api/item/1}}
phases:
  - {name: warmup, duration: 6s}
  - {name: steady, duration: 12s}
  - {name: recovery, duration: 3s, users: 0}
thresholds:
  p99_ms: {max: 500}
  error_ratio: {max: 0.01}
"""


def events_of(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pid_of(run_dir: Path, name: str) -> int:
    manifest = json.loads((run_dir / "run.json").read_text())
    return next(int(t["pid"]) for t in manifest["targets"] if t["name"] == name)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant, parents first (read from /proc, no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop(0))
        todo += children.get(tree[-1], [])
    return tree


def fault_run(tmp_path: Path, who: str, sig: signal.Signals, after: float = 2.0,
              scenario_text: str = SCENARIO, whole_tree: bool = False,
              env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """Run the scenario, send ``sig`` to ``who`` (and its descendants with ``whole_tree``)
    ``after`` s into steady; (exit code, summary, output)."""
    scenario = tmp_path / "tool-faults.yaml"
    scenario.write_text(scenario_text)
    out = tmp_path / "run"
    harness = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                                str(out), "-q"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    victims: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not any(e["kind"] == "phase_start" and e["phase"] == "steady"
                      for e in events_of(out)):
            assert harness.poll() is None, harness.communicate()[0]
            assert time.monotonic() < deadline, "steady never started"
            time.sleep(0.2)
        time.sleep(after)
        victims = process_tree(pid_of(out, who)) if whole_tree else [pid_of(out, who)]
        for victim in victims:
            os.kill(victim, sig)
        output, _ = harness.communicate(timeout=120)
    finally:
        for victim in victims:  # whatever happened, nothing stays stopped or alive
            for cont in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, cont)
        if harness.poll() is None:
            harness.kill()
            harness.communicate()
    left = processes_with_env(f"HARNESS_RUN_ID={out.resolve()}")
    assert not left, f"processes of the run still alive: {left}"
    for name in ("summary.json", "report.html", "report.md", "junit.xml"):
        assert (out / name).is_file(), f"{name} missing\n{output}"
    return harness.returncode, json.loads((out / "summary.json").read_text()), output


def story(summary: dict) -> str:
    return "\n".join(f"{c['verdict']} {c['name']} [{c['category']}]: {c['detail']}"
                     for c in summary["checks"])


def blamed_on_target(summary: dict) -> list[str]:
    return [c["name"] for c in summary["checks"]
            if c["category"] == "target" and c["verdict"] in ("fail", "error")]


@pytest.mark.parametrize(("who", "sig"), [
    ("toxiproxy", signal.SIGSTOP), ("locust", signal.SIGSTOP),
    ("toxiproxy", signal.SIGKILL), ("locust", signal.SIGKILL),
], ids=["toxiproxy-stop", "locust-stop", "toxiproxy-kill", "locust-kill"])
def test_a_tool_that_freezes_or_dies_is_a_tool_failure(
        tmp_path: Path, who: str, sig: signal.Signals) -> None:
    """A frozen or killed toxiproxy-server / Locust: exit 3, the tool named, the report
    written, no target check failed."""
    code, summary, output = fault_run(tmp_path, who, sig)
    assert code == 3, output + story(summary)
    assert summary["status"] == "error"
    assert who in summary["reason"].lower(), summary["reason"]
    assert not blamed_on_target(summary), story(summary)


def test_a_frozen_target_fails_its_rate_latency_and_error_checks(tmp_path: Path) -> None:
    """SIGSTOP of the target: its requests hang, so the rate collapses and the requests still
    in flight at steady's end fail P99 and the error ratio: exit 1, on the target."""
    # Margin: HttpApiUser waits 10-50 ms between requests, so 5 users make at most ~150/s
    # whatever the machine; stopped ~1-1.4 s into steady, at most ~210 requests completed
    # there, and the 5 stuck at its end are >= 2.3% of the phase: over both 1% limits.
    code, summary, output = fault_run(tmp_path, "api", signal.SIGSTOP, after=1.0)
    assert code == 1, output + story(summary)
    assert summary["status"] == "completed"
    failed = set(blamed_on_target(summary))
    assert {"request_rate[steady]", "p99_ms[steady]", "error_ratio[steady]"} <= failed, \
        story(summary)
    assert "p99_ms[warmup]" not in failed and "request_rate[warmup]" not in failed


def test_a_killed_target_fails_as_crashed(tmp_path: Path) -> None:
    """SIGKILL of the target: the run ends, target.alive fails, exit 1 (not a tool failure)."""
    code, summary, output = fault_run(tmp_path, "api", signal.SIGKILL)
    assert code == 1, output + story(summary)
    assert summary["status"] == "target_crashed"
    assert any(c["name"] == "target.alive[api]" and c["verdict"] == "fail"
               for c in summary["checks"]), story(summary)


def test_an_upstream_port_out_of_range_is_refused_at_validation(tmp_path: Path) -> None:
    """`upstream: 127.0.0.1:99999`: exit 2 naming proxies[1].upstream; nothing starts."""
    scenario = tmp_path / "bad-upstream.yaml"
    scenario.write_text(SCENARIO.replace(
        "proxies: [{name: front, upstream: api}]",
        "proxies: [{name: front, upstream: api}, {name: up, upstream: '127.0.0.1:99999'}]"))
    for command in ("validate", "run"):
        result = subprocess.run([sys.executable, "-m", "harness", command, str(scenario)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "proxies[1].upstream: port 99999" in result.stderr
    assert not (tmp_path / "reports").exists()


def test_an_upstream_that_refuses_connections_is_an_environment_failure(tmp_path: Path) -> None:
    """A host:port upstream nobody listens on: exit 3 before any load, naming the proxy."""
    with socket.socket() as holder:  # a port that was free a moment ago and has no listener
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    scenario = tmp_path / "refused.yaml"
    scenario.write_text(SCENARIO.replace(
        "proxies: [{name: front, upstream: api}]",
        f"proxies: [{{name: front, upstream: api}}, {{name: up, upstream: '127.0.0.1:{port}'}}]"))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out",
                             str(out), "-q"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"proxies[1] (up): upstream 127.0.0.1:{port} does not accept connections" \
        in result.stderr
    events = events_of(out)
    assert not [e for e in events if e["kind"] == "phase_start"], "load started"
    assert (out / "summary.json").is_file()
    left = processes_with_env(f"HARNESS_RUN_ID={out.resolve()}")
    assert not left, f"processes of the run still alive: {left}"


# A third-party server under the same faults: Debian's nginx (master + 2 workers, serve.sh
# execs the master) loaded over HTTP through Toxiproxy. Same timeline and limits as SCENARIO.
NGINX = REPO / "scenarios" / "examples" / "nginx" / "serve.sh"
NGINX_SCENARIO = SCENARIO.replace(
    "target: {name: api, sample: healthy}",
    f"target: {{name: api, command: [{str(NGINX)!r}, '{{port}}', fixed], health: {{http: /}}}}",
).replace("options: {path: /api/item/1}", "options: {path: /}")


def nginx_env() -> dict[str, str]:
    """The environment, skipping when Debian's nginx is missing (`make setup-test` installs
    it: scripts/third-party-servers.sh)."""
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        pytest.skip("nginx is not installed: `make setup-test` installs it")
    return dict(os.environ)


def test_a_frozen_third_party_server_fails_on_the_target(tmp_path: Path) -> None:
    """SIGSTOP of nginx's master and workers mid-steady: the rate collapses and the stuck
    requests fail P99: exit 1, blamed on the target, never PASS and never a tool failure."""
    # Margin: as for the sample above (same users and wait, ~150 req/s at most): the 5 requests
    # stuck at steady's end are >= 2.3% of what completed there.
    code, summary, output = fault_run(tmp_path, "api", signal.SIGSTOP, after=1.0,
                                      scenario_text=NGINX_SCENARIO, whole_tree=True,
                                      env=nginx_env())
    assert code == 1, output + story(summary)
    assert summary["status"] == "completed", story(summary)
    failed = set(blamed_on_target(summary))
    assert {"request_rate[steady]", "p99_ms[steady]"} <= failed, story(summary)
    assert "request_rate[warmup]" not in failed


def test_a_killed_third_party_master_is_a_crash_and_its_workers_are_reaped(
        tmp_path: Path) -> None:
    """SIGKILL of nginx's master only: its workers are orphaned, still serving; the harness
    sees its target die (exit 1, target_crashed) and leaves none of the workers alive."""
    code, summary, output = fault_run(tmp_path, "api", signal.SIGKILL,
                                      scenario_text=NGINX_SCENARIO, env=nginx_env())
    assert code == 1, output + story(summary)
    assert summary["status"] == "target_crashed", story(summary)
    assert any(c["name"] == "target.alive[api]" and c["verdict"] == "fail"
               for c in summary["checks"]), story(summary)
