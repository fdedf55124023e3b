"""The examples in scenarios/examples/ judged by the real CLI on real third-party servers.

Each example (Debian's nginx: master + workers; Debian's redis-server: one process; gunicorn
from PyPI: workers under a shell wrapper that does not exec) runs leaky and fixed: leaky exits
1 with a failed check on the metric that leaks, fixed exits 0. The servers hold their
connections in child processes (nginx, gunicorn): a single-PID reading would be blind.

Margins, for a busy 2-core machine: every example adds ~10 leaked connections a second
(600/min) against limits of 60/min, and a fixed server plateaus at ~2 s worth of clients
(~20-30), so the growth test separates them by 10x on the slope; the fixed timeouts are 2 s
against a `recover_within` of 6 s (3x). The timeline is scaled to ~24 s; most of the wall
time of a run (~40-90 s) is startup, analysis and charts, which only gets slower, never
changes a verdict. Six runs, about 4-5 minutes with `-n 2` on a loaded 2-core machine.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, processes_with_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLES = REPO / "scenarios" / "examples"
SCALE = "0.4"  # 10 s / 30 s / 20 s phases -> 4 s / 12 s / 8 s: >= 6 growth samples kept

# example -> (binary that must be installed, the checks its leaky variant must fail)
LEAKS: dict[str, tuple[str, set[str]]] = {
    "nginx": ("nginx", {"conns.growth[nginx]", "fds.growth[nginx]",
                        "conns.recovery[nginx]", "fds.recovery[nginx]"}),
    "redis": ("redis-server", {"conns.growth[redis]", "fds.growth[redis]",
                               "conns.recovery[redis]", "fds.recovery[redis]"}),
    # idle keep-alive clients close their sockets when they stop: the leak is the growth
    "gunicorn": ("gunicorn", {"conns.growth[gunicorn]", "fds.growth[gunicorn]"}),
}


def server_env() -> dict[str, str]:
    """The test's environment with the venv's bin first (gunicorn is a dev extra there)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def require(binary: str, env: dict[str, str]) -> None:
    found = shutil.which(binary, path=env["PATH"]) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)),
        None)
    if found is None:
        pytest.skip(f"{binary} is not installed: `make setup-test` installs it "
                    "(scripts/third-party-servers.sh, the dev extras)")


def run_example(name: str, variant: str, out: Path, *sets: str) -> tuple[int, dict[str, Any], str]:
    """``harness run`` of one example; returns (exit code, summary.json, a readable story)."""
    env = server_env()
    require(LEAKS[name][0], env)
    args = ["run", str(EXAMPLES / name / f"{name}.yaml"), "--variant", variant,
            "--duration-scale", SCALE, "--out", str(out), "-q"]
    for assignment in sets:
        args += ["--set", assignment]
    result = run_cli(*args, env=env, timeout=200)
    assert (out / "summary.json").is_file(), result.stdout + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    story = "\n".join(f"{c['name']}: {c['verdict']}: {c['detail']}" for c in summary["checks"])
    assert summary["status"] == "completed", story + result.stderr[-3000:]
    assert not processes_with_env(f"HARNESS_RUN_ID={out.resolve()}"), "server processes left"
    return result.returncode, summary, story


def target_pid(out: Path, name: str) -> int:
    """The PID the harness started (nginx: the master, since serve.sh execs it)."""
    for line in (out / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("kind") == "process_start" and event.get("process") == name:
            return int(event["pid"])
    raise AssertionError(f"no process_start event for {name}")


# the examples whose connections live in children of the process the harness started
CHILDREN_HOLD = {"nginx", "gunicorn"}
CASES = [(name, variant) for name in LEAKS for variant in ("leaky", "fixed")]


@pytest.mark.parametrize(("name", "variant"), CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_example(name: str, variant: str, tmp_path: Path):
    """Leaky exits 1 with failed checks on the leaking metric; fixed exits 0, all passed."""
    out = tmp_path / "run"
    # beside the tree's series, the single-PID reading the harness had before process trees
    # (no threshold on it: it only shows what that reading would have judged)
    code, summary, story = run_example(name, variant, out, "target.metrics.self_conns=proc:conns:self")
    # tool checks (toxiproxy's and Locust's own RSS) are reported, never the target's verdict
    judged = [c for c in summary["checks"] if c["category"] != "tool"]
    failed = {c["name"] for c in judged if c["verdict"] in ("fail", "error")}
    if variant == "leaky":
        assert code == 1, story
        assert LEAKS[name][1] <= failed, f"expected {sorted(LEAKS[name][1])} to fail:\n{story}"
        # nothing else may fail: no run check, no error_ratio, only the leaking metrics
        # (gunicorn's recovery could only fail if its closing clients took > 6 s to go)
        leaking = {f"{m}.{k}[{name}]" for m in ("conns", "fds") for k in ("growth", "recovery")}
        assert failed <= leaking, story
        if name in CHILDREN_HOLD:
            a_child_grew_and_the_started_process_looks_flat(out, name, summary)
    else:
        assert code == 0, f"fixed variant flagged:\n{story}"
        assert not failed, story
        assert all(c["verdict"] == "pass" for c in judged), story


def a_child_grew_and_the_started_process_looks_flat(out: Path, name: str,
                                                     summary: dict[str, Any]) -> None:
    """The growth evidence names a child (an nginx or gunicorn worker), not the process the
    harness started (nginx's master; gunicorn's shell); and that process read alone
    (``proc:conns:self``) stayed at 0 connections while the tree held the leak: the false
    PASS a single-PID reading gave."""
    started = target_pid(out, name)
    growth = next(c for c in summary["checks"] if c["name"] == f"conns.growth[{name}]")
    rows = growth["evidence"]["processes"]
    assert rows[0]["pid"] != started, f"the started process {started} named as grown: {rows}"
    # ~10 new connections/s over a >= 9 s window, split over 2 workers: >= 45 each on average
    assert rows[0]["growth"] >= 20, rows
    by_pid = {r["pid"]: r for r in rows}
    assert started not in by_pid or by_pid[started]["growth"] == 0, rows
    series: dict[str, list[float]] = {}
    with (out / "samples.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["target"] == name:
                series.setdefault(row["metric"], []).append(float(row["value"]))
    assert max(series["conns"]) >= 60, "the tree never held the leaked connections"
    assert max(series["self_conns"]) == 0, "the started process held connections after all"
