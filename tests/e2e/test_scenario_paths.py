"""A scenario finds its own files (locustfile, wrapper script, cwd) from any working folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import processes_with_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# a wrapper with a child (no exec): the server is the shell's child, as in many start scripts
SERVE_SH = """\
#!/bin/sh
echo "serve.sh: starting the server on port $1"
"{python}" -m http.server --bind 127.0.0.1 "$1"
"""

USERS_PY = """\
from locust import HttpUser, constant, task


class PageUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def page(self):
        with self.client.get("/", catch_response=True) as resp:
            if "served from www" not in resp.text:  # the server runs in target.cwd
                resp.failure("not the page of www/")
"""

SCENARIO = """\
name: relative-paths
target:
  name: web
  command: [./serve.sh, "{port}"]
  cwd: www
  health: {http: /}
proxies: [{name: front, upstream: web}]
load: {locustfile: users.py, user: PageUser, users: 2, spawn_rate: 10}
phases:
  - {name: warmup, duration: 4s}
  - {name: steady, duration: 4s}
thresholds:
  error_ratio: {max: 0.5}
"""


def make_project(root: Path) -> Path:
    """The scenario, its wrapper script, its locustfile and its www/ folder, side by side."""
    project = root / "project"
    (project / "www").mkdir(parents=True)
    (project / "www" / "index.html").write_text("<p>served from www</p>\n")
    serve = project / "serve.sh"
    serve.write_text(SERVE_SH.format(python=sys.executable))
    serve.chmod(0o755)
    (project / "users.py").write_text(USERS_PY)
    scenario = project / "scenario.yaml"
    scenario.write_text(SCENARIO)
    return scenario


def test_validate_and_run_from_another_folder_find_the_scenarios_files(tmp_path: Path):
    """From another cwd, validate passes and a short run starts ./serve.sh (a wrapper with a
    child) in www/ and loads it with the relative locustfile: exit 0/1, summary.json written."""
    make_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("validate", "../project/scenario.yaml", cwd=elsewhere, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(tmp_path / "project" / "serve.sh") in result.stdout

    result = run_cli("run", "../project/scenario.yaml", "--out", "run", "-q",
                     cwd=elsewhere, timeout=150)
    out = elsewhere / "run"
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert (out / "summary.json").is_file(), result.stderr
    latency = (out / "latency.csv").read_text().splitlines()[1:]
    requests = sum(int(line.split(",")[1]) for line in latency)
    failures = sum(int(line.split(",")[2]) for line in latency)
    assert requests > 10, "load never flowed"
    assert failures == 0, "the server did not serve www/ (target.cwd not honoured)"
    started = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    web = [e for e in started if e.get("kind") == "process_start" and e.get("process") == "web"]
    assert web and web[0]["argv"][0] == str(tmp_path / "project" / "serve.sh")
    assert not processes_with_env(f"HARNESS_RUN_ID={out.resolve()}"), "wrapper or child left"


def test_a_wrapper_that_is_not_executable_exits_2_before_starting(tmp_path: Path):
    """validate and run exit 2 naming target.command[0] and its absolute path; no run folder."""
    scenario = make_project(tmp_path)
    serve = scenario.parent / "serve.sh"
    serve.chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("validate",), ("run", "--out", "run")):
        result = run_cli(args[0], "../project/scenario.yaml", *args[1:], cwd=elsewhere,
                         timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"target.command[0]: {serve}: not executable" in result.stderr
    assert not (elsewhere / "run").exists()
