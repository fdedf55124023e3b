"""The harness under its own faults: signals at any moment, SIGKILL, a full disk.

Real harness processes through the CLI, real toxiproxy-server, Locust and targets. "Nothing
left" is checked by the HARNESS_RUN_ID every child of a run inherits (grep /proc/*/environ).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import events, harness, processes_with_env, run_cli

pytestmark = [pytest.mark.e2e]

# smoke in 8 s of timeline: too short to judge growth (3 s of steady), allowed explicitly:
# these tests are about signals and teardown, not verdicts
SHORT = ["--set", "phases[0].duration=3s", "--set", "phases[1].duration=3s",
         "--set", "phases[2].duration=2s", "--allow-unjudgeable"]


def left_behind(run_dir: Path) -> list[str]:
    return processes_with_env(f"HARNESS_RUN_ID={run_dir.resolve()}")


def documented_exit(summary: dict) -> int:
    """README's exit codes, from summary.json alone (tool checks never decide)."""
    if summary["status"] == "error":
        return 3
    judged = [c["verdict"] for c in summary["checks"] if c["category"] != "tool"]
    if "fail" in judged:
        return 1
    if "error" in judged or summary["status"] == "interrupted":
        return 4
    return 0


def handlers_installed(pid: int) -> bool:
    """True once the process catches SIGTERM (SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:"))
                  .split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


# 10 moments per signal: (anchor, seconds after it). Anchors cover every stage of a run:
# the CLI up (handlers in place, before the scenario is even loaded), the run folder created
# (backend starting), the timeline, teardown (the last phase ended), and the report stage
# (run_end written: analysis running; summary.json written: charts and HTML being written).
_RNG = random.Random(11)
MOMENTS = ([("up", round(_RNG.uniform(0, 0.5), 2)) for _ in range(2)]
           + [("folder", 0.0)]
           + [("timeline", round(_RNG.uniform(0, 8), 2)) for _ in range(3)]
           + [("teardown", 0.0), ("run_end", round(_RNG.uniform(0, 1), 2)), ("summary", 0.0),
              ("summary", 0.3)])


def _anchor_reached(anchor: str, proc: subprocess.Popen[str], out: Path) -> bool:
    if anchor == "up":
        return handlers_installed(proc.pid)
    if anchor == "folder":
        return (out / "run.json").exists()
    kinds = [e.get("kind") for e in events(out)]
    if anchor == "timeline":
        return "phase_start" in kinds
    if anchor == "teardown":
        return kinds.count("phase_end") >= 3
    if anchor == "run_end":
        return "run_end" in kinds
    return (out / "summary.json").exists()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize(("anchor", "after"), MOMENTS,
                         ids=[f"{a}+{s}s" for a, s in MOMENTS])
def test_signal_at_any_moment_ends_with_report_and_documented_exit(
        tmp_path: Path, sig: signal.Signals, anchor: str, after: float):
    """A signal at any moment: the documented exit code, summary.json and the report
    written, nothing of the run left running."""
    out = tmp_path / "run"
    proc = harness("run", "scenarios/smoke.yaml", "--out", str(out), "-q", *SHORT)
    try:
        deadline = time.monotonic() + 150
        while not _anchor_reached(anchor, proc, out):
            # the anchor can be missed only by a run that already ended (it cannot here)
            assert proc.poll() is None, f"the run ended before {anchor}: {proc.communicate()}"
            assert time.monotonic() < deadline, f"{anchor} never reached"
            time.sleep(0.02)
        time.sleep(after)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, 1, 4), f"rc={proc.returncode}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert proc.returncode == documented_exit(summary), (summary["status"], stdout, stderr)
    # before the timeline ended the run is cut short; 6 s into an 8 s wall-clock timeline
    # leaves 2 s for the signal to land, a margin no scheduling delay on a busy machine eats
    if anchor in ("up", "folder") or (anchor == "timeline" and after < 6):
        assert summary["status"] == "interrupted", summary["status"]
        assert proc.returncode in (1, 4)
    for name in ("report.html", "report.md", "junit.xml"):
        assert (out / name).is_file(), f"{name} missing"
    assert f"report: {out / 'report.html'}" in stdout
    assert not left_behind(out), left_behind(out)


FORKER = textwrap.dedent("""
    import http.server, os, subprocess, sys, threading, time
    # a target with a child, a grandchild and a daemon that left the process group
    if sys.argv[1] == "child":
        subprocess.Popen([sys.executable, __file__, "grandchild", "0"])
        time.sleep(600)
    elif sys.argv[1] == "grandchild":
        time.sleep(600)
    else:
        port = int(sys.argv[1])
        subprocess.Popen([sys.executable, __file__, "child", "0"])
        subprocess.Popen([sys.executable, __file__, "grandchild", "0"], start_new_session=True)
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def _forking_scenario(tmp_path: Path, seconds: int) -> Path:
    script = tmp_path / "forker.py"
    script.write_text(FORKER)
    scenario = tmp_path / "forker.yaml"
    scenario.write_text(textwrap.dedent(f"""
        name: forker
        target:
          name: tree
          command: ["{sys.executable}", "{script}", "{{port}}"]
          health: {{http: /}}
        proxies: [{{name: front, upstream: tree}}]
        load: {{user: HttpApiUser, users: 2, options: {{path: /}}}}
        phases:
          - {{name: warmup, duration: {seconds}s}}
        thresholds:
          error_ratio: {{max: 1.0}}
    """))
    return scenario


def _wait_for_tree(out: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not any(e.get("kind") == "phase_start" for e in events(out)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started its timeline"
        time.sleep(0.1)
    deadline = time.monotonic() + 10  # the target forks its three children at start
    while len([p for p in left_behind(out) if "forker.py" in p]) < 4:
        assert time.monotonic() < deadline, left_behind(out)
        time.sleep(0.1)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("supervisors_too", [False, True], ids=["harness", "harness+supervisors"])
def test_sigkilled_harness_leaves_nothing_once_the_next_run_starts(
        tmp_path: Path, supervisors_too: bool):
    """SIGKILL of the harness (and, worse, of the supervisors with it) while its target has
    children, a grandchild and a setsid daemon: nothing of that run is left once the next
    run starts, and the next run writes the killed run's report."""
    scenario = _forking_scenario(tmp_path, 120)
    reports = tmp_path / "reports"
    proc = harness("run", str(scenario), "--reports-root", str(reports), "-q")
    try:
        deadline = time.monotonic() + 30
        while not reports.exists() or not any(reports.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        killed_run = next(reports.iterdir())
        _wait_for_tree(killed_run, proc)
        victims = [proc.pid]
        if supervisors_too:  # as if the OOM killer or `kill -9` took the harness's own children
            # the harness is frozen first, so that neither it nor the supervisors (which
            # would see it die) can react before all of them are gone at once
            os.kill(proc.pid, signal.SIGSTOP)
            victims = [json.loads(p.read_text())["supervisor"]["pid"]
                       for p in (killed_run / "logs").glob("*.proc.json")] + victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if supervisors_too:
        time.sleep(1.0)
        # the setsid daemon and the grandchildren outlive the killed harness and supervisors
        assert left_behind(killed_run), "precondition: something must be left to clean up"
    else:  # the supervisors saw their parent die and took the trees down with them
        deadline = time.monotonic() + 10
        while left_behind(killed_run) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left_behind(killed_run), left_behind(killed_run)
    assert not (killed_run / "summary.json").exists()
    (tmp_path / "next").mkdir()
    # 3 s: the shortest warmup that holds a whole second of request rate after the ramp
    nxt = harness("run", str(_forking_scenario(tmp_path / "next", 3)), "--reports-root",
                  str(reports), "-q")
    try:
        deadline = time.monotonic() + 90
        while len(list(reports.iterdir())) < 2:  # the next run has created its folder
            assert nxt.poll() is None, nxt.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not left_behind(killed_run), left_behind(killed_run)
        _, stderr = nxt.communicate(timeout=150)
    finally:
        if nxt.poll() is None:
            nxt.kill()
            nxt.communicate()
    assert f"finished the interrupted run {killed_run}" in stderr, stderr
    summary = json.loads((killed_run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert "died before it finished" in summary["reason"]
    assert (killed_run / "report.html").is_file()
    assert json.loads((killed_run / "run.json").read_text())["reported"] is True
    assert "Traceback" not in stderr, stderr


@pytest.mark.timeout(240)
def test_full_disk_mid_run_is_an_environment_failure(tmp_path: Path):
    """The run folder's disk fills up mid-run: exit 3, teardown done, nothing left running,
    and no report announced that was not written."""
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        out = mount / "run"
        proc = harness("run", "scenarios/smoke.yaml", "--out", str(out), "-q",
                       "--set", "phases[0].duration=4s", "--set", "phases[1].duration=20s",
                       "--set", "phases[2].duration=4s")
        try:
            deadline = time.monotonic() + 90
            while not any(e.get("kind") == "fault_added" for e in events(out)):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.1)
            with (mount / "filler").open("wb") as fh, contextlib.suppress(OSError):
                while True:  # fill every byte that is left
                    fh.write(b"\0" * 65536)
                    fh.flush()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 3, f"rc={proc.returncode}\n{stdout}\n{stderr}"
        assert "No space left on device" in stderr, stderr
        assert "Traceback" not in stderr, stderr
        assert "report:" not in stdout, stdout
        assert not left_behind(out), left_behind(out)
        # teardown ran: every process of the run got its stop (and the supervisors saw it)
        logs = out / "logs"
        for record in logs.glob("*.proc.json"):
            pid = json.loads(record.read_text())["target"]["pid"]
            assert not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        # with space again, the data that was written gives a report
        (mount / "filler").unlink()
        again = run_cli("report", str(out))
        assert again.returncode in (1, 3, 4), again.stdout + again.stderr
        assert (out / "summary.json").is_file()
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
