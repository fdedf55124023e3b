"""The CLI contract: exit codes, the run folder, teardown on signals and crashes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.testing import free_port
from tests.conftest import REPO, processes_with_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

RUN_FILES = ("summary.json", "samples.csv", "latency.csv", "events.jsonl", "report.html",
             "report.md", "junit.xml", "run.json", "scenario.yaml")


def events_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
            if line.strip()]


def assert_no_orphans(run_dir: Path) -> None:
    left = processes_with_env(f"HARNESS_RUN_ID={run_dir.resolve()}")
    assert not left, f"processes of the run still alive: {left}"


def assert_faults_removed(run_dir: Path) -> None:
    events = events_of(run_dir)
    added = {(e["proxy"], e["toxic"]) for e in events if e["kind"] == "fault_added"}
    removed = {(e["proxy"], e["toxic"]) for e in events if e["kind"] == "fault_removed"}
    assert added <= removed, f"toxics never removed: {added - removed}"


def test_smoke_run_passes_and_writes_the_run_folder(tmp_path: Path):
    """`harness run scenarios/smoke.yaml` exits 0 and writes every file of the run folder."""
    out = tmp_path / "smoke"
    result = run_cli("run", "scenarios/smoke.yaml", "--out", str(out), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in RUN_FILES:
        assert (out / name).is_file(), f"{name} missing"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["status"] == "completed"
    assert summary["checks"], "a passing run must still have checks"
    latency = (out / "latency.csv").read_text().splitlines()
    assert sum(int(line.split(",")[1]) for line in latency[1:]) > 100, "load never flowed"
    samples = (out / "samples.csv").read_text()
    for series in ("api,tasks", "api,fds", "toxiproxy,fds", "locust,rss"):
        assert series in samples, f"no {series} samples"
    assert_faults_removed(out)
    assert_no_orphans(out)
    assert "report:" in result.stdout


def test_malformed_scenario_exits_2_naming_the_field(tmp_path: Path):
    """A bad toxic name exits 2, names the field path, and creates no run folder."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "scenarios/smoke.yaml").read_text().replace("type: latency",
                                                                       "type: latancy"))
    reports = tmp_path / "reports"
    result = run_cli("run", str(bad), "--reports-root", str(reports))
    assert result.returncode == 2
    assert "phases[1].faults[0].type: unknown toxic 'latancy'" in result.stderr
    assert "did you mean 'latency'" in result.stderr
    assert not reports.exists()


def test_validate_only_validates(tmp_path: Path):
    """`harness validate` exits 0 on a good scenario and starts nothing."""
    result = run_cli("validate", "scenarios/smoke.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_missing_toxiproxy_exits_3_with_how_to(tmp_path: Path):
    """With no toxiproxy-server anywhere, a run exits 3 and says how to get one."""
    env = {k: v for k, v in os.environ.items() if k != "TOXIPROXY_SERVER"}
    env["PATH"] = os.path.dirname(sys.executable) + ":/usr/bin:/bin"
    env["HARNESS_TOOLS_DIR"] = str(tmp_path / "no-tools")
    result = run_cli("run", "scenarios/smoke.yaml", "--reports-root", str(tmp_path / "r"),
                     env=env)
    assert result.returncode == 3, result.stderr
    assert "toxiproxy-server not found" in result.stderr
    assert "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0" in result.stderr
    assert not (tmp_path / "r").exists(), "nothing may start (or be written) before preflight"


def test_scenario_without_proxies_needs_no_toxiproxy(tmp_path: Path):
    """No ``proxies:``: the run loads the target straight, starts no toxiproxy-server (the
    binary is not even looked for: the same environment as above has none) and judges the
    target as usual."""
    port = free_port()
    scenario = tmp_path / "direct.yaml"
    scenario.write_text(textwrap.dedent(f"""\
        name: direct
        target: {{name: api, sample: healthy, port: {port}}}
        load: {{user: HttpApiUser, users: 5, spawn_rate: 5, host: "http://127.0.0.1:{port}",
                options: {{path: /api/item/1}}}}
        phases: [{{name: steady, duration: 8s}}]
        thresholds: {{error_ratio: {{max: 0.01}}}}
        """))
    env = {k: v for k, v in os.environ.items() if k != "TOXIPROXY_SERVER"}
    env["PATH"] = os.path.dirname(sys.executable) + ":/usr/bin:/bin"
    env["HARNESS_TOOLS_DIR"] = str(tmp_path / "no-tools")
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--out", str(out), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    started = {e.get("process") for e in events if e["kind"] == "process_start"}
    assert "api" in started and not any("toxiproxy" in str(p) for p in started), started
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass", summary
    requests = sum(float(line.split(",")[1]) for line in
                   (out / "latency.csv").read_text().splitlines()[1:])
    assert requests > 50, f"the load did not reach the target straight: {requests} requests"


def test_taken_port_exits_3_before_starting(tmp_path: Path):
    """A target port that is already taken exits 3 naming the port, nothing started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("run", "scenarios/smoke.yaml", "--set", f"target.port={port}",
                         "--reports-root", str(tmp_path / "r"))
    assert result.returncode == 3, result.stderr
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert not (tmp_path / "r").exists()


def test_out_dir_with_files_is_not_overwritten(tmp_path: Path):
    """--out pointing at a folder with files is refused (exit 2) and the files survive."""
    out = tmp_path / "old"
    out.mkdir()
    (out / "summary.json").write_text("precious")
    result = run_cli("run", "scenarios/smoke.yaml", "--out", str(out))
    assert result.returncode == 2
    assert (out / "summary.json").read_text() == "precious"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_tears_down_and_reports(tmp_path: Path, sig: signal.Signals):
    """A signal 10 s in: exit within 15 s, nothing left running, every toxic removed,
    summary.json written from the data so far."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--out", str(out),
         "--set", "phases[0].duration=5s", "--set", "phases[1].duration=60s"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the fault phase really runs
            log = out / "events.jsonl"
            if log.exists() and "fault_added" in log.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run never reached its fault phase")
        time.sleep(max(0.0, 10 - (time.time() - json.loads((out / "run.json").read_text())["t0"])))
        sent = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)  # bounded below; this is a backstop
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    # teardown (signal to run_end) is bounded by the stop graces (Locust 5 s, targets 5 s,
    # toxiproxy 3 s; processes that exit on TERM take far less); the analysis and report
    # after it are CPU work that a busy machine stretches (21 s seen), so they get their own
    # generous bound instead of sharing the teardown's
    kinds = {e["kind"]: e["t"] for e in events_of(out)}
    assert kinds["run_end"] - kinds["interrupted"] < 15, kinds
    assert took < 90, f"took {took:.1f}s to stop and write the report"
    summary = json.loads((out / "summary.json").read_text())
    failed = any(c["verdict"] == "fail" for c in summary["checks"] if c["category"] != "tool")
    # cut short: inconclusive (4) unless the data so far already shows a failure (1)
    assert proc.returncode == (1 if failed else 4), stdout + stderr
    assert summary["status"] == "interrupted"
    assert any(c["name"] == "run.completed" and c["verdict"] == "error" for c in summary["checks"])
    assert (out / "report.html").is_file()
    assert len((out / "samples.csv").read_text().splitlines()) > 10
    assert_faults_removed(out)
    assert_no_orphans(out)


CRASHER = textwrap.dedent("""
    import http.server, os, sys, threading, time
    port = int(sys.argv[1])
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    time.sleep(float(sys.argv[2]))
    os._exit(7)
""")


def test_target_crash_mid_run_fails_with_a_verdict_that_says_so(tmp_path: Path):
    """A target dying mid-run ends the run with a failing check naming it; the report is written."""
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(textwrap.dedent(f"""
        name: crash
        target:
          name: flaky
          command: ["{sys.executable}", "{script}", "{{port}}", "8"]
          health: {{http: /}}
        proxies: [{{name: front, upstream: flaky}}]
        load: {{user: HttpApiUser, users: 5, options: {{path: /}}}}
        phases:
          - {{name: warmup, duration: 5s}}
          - {{name: steady, duration: 30s}}
        thresholds:
          error_ratio: {{max: 1.0}}
    """))
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--out", str(out), timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    # the run ends when its target dies, not at the planned 35 s: judged on the run's own
    # clock (events), since start-up and the report stretch on a busy machine
    at = {e["kind"]: e["t"] for e in events_of(out)}
    assert at["run_end"] - at["process_exit"] < 15, at
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "target_crashed"
    alive = [c for c in summary["checks"] if c["name"] == "target.alive[flaky]"]
    assert alive and alive[0]["verdict"] == "fail"
    assert "7" in alive[0]["detail"]
    assert (out / "report.html").is_file()
    assert_no_orphans(out)


def test_relative_out_dir_works(tmp_path: Path):
    """A relative --out (as `make demo` passes) works: Locust runs in the run folder."""
    # 5 s warmup: whole seconds of request rate after the 2 s ramp; 10 s steady: 8 growth
    # samples after settle (a shorter run is INCONCLUSIVE, exit 4)
    result = run_cli("run", str(REPO / "scenarios/smoke.yaml"), "--out", "rel-run",
                     "--set", "phases[0].duration=5s", "--set", "phases[1].duration=10s",
                     "--set", "phases[2].duration=2s", cwd=tmp_path, timeout=120)
    assert (tmp_path / "rel-run" / "summary.json").is_file(), result.stderr
    assert result.returncode in (0, 1), result.stderr
    assert "Could not find" not in result.stderr
